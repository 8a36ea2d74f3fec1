"""The ``posekit`` command line: ``posekit build-data``, ``posekit train``, ``posekit eval``, ``posekit chat``, ``posekit report``, ..."""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

USER_ERRORS = (OSError, ValueError, TypeError, KeyError, json.JSONDecodeError, ImportError, RuntimeError)
"""Errors a user can cause (a missing or unwritable file, bad JSON, a bad value, a corrupt checkpoint: posekit's
CheckpointError and AssetNotFoundError are among them): one line and exit code 2, not a traceback."""


def _build_body(args: argparse.Namespace) -> int:
    from posekit.body.open_body import OpenBodyConfig, build_open_body, save_body_npz
    from posekit.paths import data_dir

    config = OpenBodyConfig(seed=args.seed, num_samples=args.num_samples)
    out = Path(args.out) if args.out else data_dir() / "body_models" / "posekit" / "POSEKIT_NEUTRAL.npz"
    model = build_open_body(config, progress=not args.quiet)
    save_body_npz(model, out)
    meta = json.loads(str(model["posekit_meta"]))
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")
    print(f"explained variance of {config.num_betas} betas: {sum(meta['explained_variance']):.4f}; "
          f"joint regressor held-out error: {meta['regressor_held_out_error_mm']['mean']:.2f} mm mean, "
          f"{meta['regressor_held_out_error_mm']['max']:.2f} mm max")
    return 0


def _info(args: argparse.Namespace) -> int:
    import posekit
    from posekit.body.model import load_body_model
    from posekit.paths import cache_dir, data_dir, reports_dir

    print(f"posekit {posekit.__version__}")
    print(f"data dir:    {data_dir()}\ncache dir:   {cache_dir()}\nreports dir: {reports_dir()}")
    model = load_body_model(args.model_type, path=args.path)
    rest = model(joints_only=False).vertices[0]
    print(model)
    print(f"rest height: {float(rest[:, 1].max() - rest[:, 1].min()):.3f} m")
    return 0


def _build_data(args: argparse.Namespace) -> int:
    from posekit.datasets import DatasetConfig, build_dataset, dataset_dir, default_workers

    config = DatasetConfig.quick(name=args.name or "quick", seed=args.seed) if args.quick else \
        DatasetConfig(name=args.name or "default", seed=args.seed)
    if args.scale is not None:
        config = dataclasses.replace(config, scale=args.scale)
    if args.image2pose_train_extra is not None:
        config = dataclasses.replace(config, image2pose_train_extra=args.image2pose_train_extra)
    manifest = build_dataset(config, out_dir=args.out, progress=not args.quiet,
                             workers=default_workers() if args.workers is None else args.workers)
    print(f"wrote {args.out or dataset_dir(config.name)} in {manifest['build_seconds']} s")
    for task, counts in manifest["counts"].items():
        print(f"  {task:<11}" + "  ".join(f"{split} {n:>6}" for split, n in counts.items()))
    return 0


def _verify_data(args: argparse.Namespace) -> int:
    from posekit.datasets import DatasetError, verify_dataset

    check = verify_dataset(args.name, root=args.out, progress=not args.quiet)
    if not check.ok:
        raise DatasetError(check.summary())
    print(check.summary())
    return 0


def _train_retrieval(args: argparse.Namespace) -> int:
    import json

    import torch

    from posekit.datasets import dataset_dir, load_records
    from posekit.encoders.text import get_text_encoder
    from posekit.evaluation.metrics import recall_at_k
    from posekit.models.retrieval import RetrievalConfig, retrieval_pairs, save_retrieval, train_retrieval

    root = dataset_dir(args.dataset)
    encoder = get_text_encoder()

    def pairs(split: str, unique: bool):
        records = load_records("text2pose", split, root=root) + load_records("pose2text", split, root=root)
        texts, poses = retrieval_pairs(records, unique_poses=unique)
        return encoder.encode(texts), poses

    train, val, test = pairs("train", False), pairs("val", True), pairs("test", True)
    config = RetrievalConfig(epochs=args.epochs, seed=args.seed)
    model, history = train_retrieval(*train, config, val=val, progress=not args.quiet)
    with torch.no_grad():
        text, pose = model.encode_text(test[0]), model.encode_pose(test[1])
    full, pool = recall_at_k(text, pose), recall_at_k(text, pose, protocol="pool")
    manifest = json.loads((root / "manifest.json").read_text())
    meta = {"dataset": args.dataset, "dataset_files": manifest["files"], "train_pairs": len(train[1]),
            "test_pairs": len(test[1]), "test_full": full.as_row(), "test_pool32": pool.as_row(),
            "history": history[-1], "config": dataclasses.asdict(config)}
    path = save_retrieval(model, args.out, meta)
    print(f"saved {path}; test ({len(test[1])} pairs) full: " +
          ", ".join(f"{k} {v:.1f}" for k, v in full.as_row().items()))
    print("pool of 32: " + ", ".join(f"{k} {v:.1f}" for k, v in pool.as_row().items()))
    return 0


def _eval_pose2text(args: argparse.Namespace) -> int:
    """Descriptions of input poses, ranked by the retrieval model: the model's, the captioner's
    (the dataset's own answers: the ceiling) and one fixed sentence for every pose (chance)."""
    import pandas as pd

    from posekit.datasets import dataset_dir, load_records
    from posekit.evaluation.benchmark import evaluate_descriptions, evenly
    from posekit.models.retrieval import load_retrieval
    from posekit.paths import reports_dir

    if args.model not in ("chatpose", "all"):
        raise ValueError("pose2text is measured for --model chatpose (or all): the baselines do not write text")
    root = Path(args.root) if args.root else dataset_dir(args.dataset)
    records = evenly(load_records("pose2text", args.split, root=root), args.limit)
    retrieval = load_retrieval()
    from posekit.models.chatpose import load_chatpose

    model = load_chatpose(args.checkpoint, dtype=args.dtype)
    texts = {"chatpose": model.describe(records, root),
             "captioner (reference)": [r.messages[-1]["content"] for r in records],
             "one sentence for all (chance)": ["A person is standing."] * len(records)}
    table = pd.concat([evaluate_descriptions(t, records, retrieval, name) for name, t in texts.items()],
                      ignore_index=True)
    with pd.option_context("display.max_columns", None, "display.width", 200, "display.precision", 1):
        print(table.to_string(index=False))
    for name, t in texts.items():
        print(f"{name}: e.g. {t[0][:150]!r}")
    out = reports_dir() / "eval" / "pose2text_results.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    print(f"wrote {out}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    import pandas as pd

    from posekit.evaluation.benchmark import (
        BASELINES,
        EVAL_TASKS,
        MODELS,
        benchmark,
        compare_to_baselines,
        plot_results,
    )
    from posekit.paths import reports_dir

    if args.task == "pose2text":
        return _eval_pose2text(args)
    tasks = EVAL_TASKS if args.task == "all" else (args.task,)
    models = MODELS if args.model == "all" else (args.model,)
    table, results = benchmark(tasks, models, dataset=args.dataset, split=args.split, limit=args.limit, root=args.root,
                               checkpoint=args.checkpoint, write_csv=True, dtype=args.dtype)
    for task in tasks:  # per-sample spread of every model on this task, as an interactive chart
        per_sample = {name: r.per_sample for (t, name), r in results.items() if t == task}
        if per_sample:
            fig = plot_results(per_sample, "MPJPE", title=f"{task}: MPJPE per {args.split} sample (mm)")
            fig.write_html(reports_dir() / "eval" / f"{task}_mpjpe.html", include_plotlyjs=True)
    with pd.option_context("display.max_columns", None, "display.width", 200, "display.precision", 1):
        print(table.drop(columns=["seconds"]).to_string(index=False))
    out = reports_dir() / "eval" / "results.csv"
    table.to_csv(out, index=False)
    print(f"wrote {out}")
    comparisons = compare_to_baselines(results)
    if len(comparisons):
        trained = comparisons[~comparisons.model.isin(BASELINES)]
        shown = trained if len(trained) else comparisons
        print("\ndifferences to each baseline on the same records (paired bootstrap, 95% interval):")
        for row in shown.itertuples():
            print(f"  {row.task:<10} {row.model:<9} vs {row.reference:<9} {row.subset:<18} {row.metric:<11} "
                  f"{row.difference:+7.1f} [{row.ci_low:+.1f}, {row.ci_high:+.1f}]  {row.verdict}")
        comparisons.to_csv(out.with_name("comparisons.csv"), index=False)
        print(f"wrote {out.with_name('comparisons.csv')}")
    return 0


def _train_decoder(args: argparse.Namespace) -> int:
    import time

    import pandas as pd

    from posekit.encoders.state_cache import DEFAULT_STATE_LAYER
    from posekit.encoders.vision import check_vision_name
    from posekit.evaluation.benchmark import EVAL_TASKS, evaluate_model, pose_table
    from posekit.models.chatpose import attach_to_chatpose, default_checkpoint_dir, load_decoder, stage_record
    from posekit.models.decoder import DecoderTrainConfig, PoseDecoderConfig, fit_state_decoder, parse_task_repeats

    tasks = tuple(t.strip() for t in args.tasks.split(",") if t.strip())
    unknown = sorted(set(tasks) - set(EVAL_TASKS))
    if unknown or not tasks:
        raise ValueError(f"--tasks must name some of {', '.join(EVAL_TASKS)}; got {args.tasks!r}")
    if args.epochs < 1:
        raise ValueError(f"--epochs must be >= 1, got {args.epochs}")
    check_vision_name(args.vision)  # before minutes of state caching
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    train = DecoderTrainConfig(epochs=args.epochs, seed=args.seed, joint_weight=args.joint_weight, lr=args.lr,
                               trainable=args.trainable,
                               caption_draws=args.caption_draws, brief_draws=args.brief_draws,
                               brief_facts=args.brief_facts, instruction_draws=args.instruction_draws,
                               edit_draws=args.edit_draws, task_repeats=parse_task_repeats(args.repeat),
                               grounding_weight=args.grounding_weight)
    def log(row: dict) -> None:
        print(f"epoch {row['epoch']:>3}: train {row['train_loss']:.4f}  val {row['val_loss']:.4f}  ({row['seconds']:.0f} s)",
              flush=True)

    start = time.time()
    layer = DEFAULT_STATE_LAYER if args.layer is None else args.layer
    config = PoseDecoderConfig(width=args.width, layers=args.layers, grounding=args.grounding_weight > 0,
                               image_layers=args.image_layers, image_text_layers=args.image_text_layers,
                               confidence=args.confidence or ("pose" if args.trainable == "confidence" else "none"))
    model, history = fit_state_decoder(args.dataset, tasks, layer, config=config, train=train,
                                       progress=not args.quiet, log=log, checkpoint=out.with_suffix(".training.pt"),
                                       vision=args.vision, init=load_decoder(args.init) if args.init else None)
    # how this stage was trained, with every stage before it: in the decoder file and in --chatpose-out
    recipe = {"tasks": list(tasks), "dataset": args.dataset, "train": dataclasses.asdict(train), "history": history,
              "init": stage_record(args.init) if args.init else None}
    model.save(out, {**recipe, "seconds": round(time.time() - start, 1)})
    pd.DataFrame(history).to_csv(out.with_suffix(".log.csv"), index=False)
    print(f"saved {out} ({time.time() - start:.0f} s)")
    if args.chatpose_out:
        source = args.chatpose_from or default_checkpoint_dir()
        path = attach_to_chatpose(model, source, args.chatpose_out, {"decoder_training": {**recipe, "layer": layer}})
        print(f"ChatPose checkpoint with this decoder as its pose head: {path} (language parts from {source})")
    if args.eval:
        frames = [evaluate_model("decoder", t, dataset=args.dataset, model=model, write_csv=False).summary for t in tasks]
        table = pd.concat(frames, ignore_index=True)
        table.to_csv(out.with_suffix(".results_test.csv"), index=False)
        with pd.option_context("display.width", 200):
            print(pose_table(table))
    return 0


def _train(args: argparse.Namespace) -> int:
    from posekit.datasets import DatasetConfig, ensure_dataset
    from posekit.models.chatpose.training import TrainConfig, train

    config = TrainConfig.quick() if args.quick else TrainConfig()
    if args.config:
        config = TrainConfig.from_dict(json.loads(Path(args.config).read_text()))
    overrides = {k: getattr(args, k) for k in ("steps", "batch_size", "lr", "seed", "dataset") if getattr(args, k) is not None}
    config = dataclasses.replace(config, **overrides)
    if config.dataset in ("default", "quick"):  # the named datasets are built on first use
        ensure_dataset(DatasetConfig.quick() if config.dataset == "quick" else DatasetConfig(), progress=not args.quiet)
    result = train(config, out_dir=args.out, resume=not args.no_resume, progress=not args.quiet)
    last = result.log.iloc[-1]
    print(f"step {int(last['step'])}: loss {last['loss']:.3f} (CE {last['ce']:.3f}, rotmat L1 {last['rotmat']:.4f}); "
          f"{last['samples_per_s']:.2f} samples/s, {last['tokens_per_s']:.0f} tokens/s")
    print(f"model: {Path(args.out) / 'model'}  (load with posekit.models.chatpose.ChatPose.load)")
    return 0


def _chat(args: argparse.Namespace) -> int:
    from posekit.chat.commands import run_chat

    return run_chat(args)


def _export(args: argparse.Namespace) -> int:
    from posekit.models.chatpose.training import export_run

    out = export_run(args.run, args.out)
    size = sum(p.stat().st_size for p in out.iterdir()) / 1e6
    print(f"exported {args.run} -> {out} ({size:.1f} MB)")
    return 0


def _report(args: argparse.Namespace) -> int:
    from posekit.report import build_report

    index = build_report(quick=not args.full, notebooks=args.notebooks or None, timeout=args.timeout)
    print(f"report: {index}")
    return 0


def _default(config, name: str):
    """The default of field ``name`` of the dataclass ``config``: the CLI's defaults are the configs'."""
    field = next(f for f in dataclasses.fields(config) if f.name == name)
    return field.default_factory() if field.default is dataclasses.MISSING else field.default


def build_parser() -> argparse.ArgumentParser:
    """The ``posekit`` parser: every default and choice that a config holds is read from it."""
    from posekit.datasets.records import POSE_TASKS
    from posekit.encoders.state_cache import DEFAULT_STATE_LAYER
    from posekit.encoders.vision import DEFAULT_VISION
    from posekit.evaluation.benchmark import MODELS
    from posekit.models.chatpose.config import DTYPES
    from posekit.models.decoder.config import (
        CONFIDENCE,
        DECODER_TASKS,
        TRAINABLE,
        DecoderTrainConfig,
        PoseDecoderConfig,
    )

    parser = argparse.ArgumentParser(prog="posekit", description="posekit research workbench")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("build-body", help="rebuild the open SMPL-compatible body from Anny (needs posekit[build])")
    p.add_argument("--out", help="output .npz (default: data/body_models/posekit/POSEKIT_NEUTRAL.npz)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--num-samples", type=int, default=320)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_build_body)

    p = sub.add_parser("build-data", help="build the task datasets (text2pose, spg, image2pose, rpe, ...)")
    p.add_argument("--name", default=None, help="dataset name: data/generated/<name> (default: default / quick)")
    p.add_argument("--quick", action="store_true", help="small dataset for notebooks and CI")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scale", type=float, default=None, help="multiply every count (GPU users: 5-20)")
    p.add_argument("--image2pose-train-extra", type=int, default=None,
                   help="single-person training renders drawn after everything else (default: 8000; --quick: 0)")
    p.add_argument("--out", default=None, help="output folder (default: data/generated/<name>)")
    p.add_argument("--workers", type=int, default=None, help="processes rendering images (default: one per core, <= 4)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_build_data)

    p = sub.add_parser("verify-data", help="check a dataset's records and images against its manifest's SHA-256")
    p.add_argument("--name", default="default", help="dataset name: data/generated/<name>")
    p.add_argument("--out", default=None, help="the dataset folder, if not data/generated/<name>")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_verify_data)

    p = sub.add_parser("train-retrieval", help="train the text<->pose retrieval model on a built dataset")
    p.add_argument("--dataset", default="default")
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="checkpoint path (default: data/checkpoints/retrieval.pt)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_train_retrieval)

    p = sub.add_parser("train-decoder", help="cache frozen LLM request states, then train a pose decoder on them")
    p.add_argument("--dataset", default="default")
    p.add_argument("--tasks", default=",".join(DECODER_TASKS), help="comma-separated tasks to train across")
    p.add_argument("--layer", type=int, default=None,
                   help=f"LLM layer whose states are read (default: {DEFAULT_STATE_LAYER})")
    p.add_argument("--width", type=int, default=_default(PoseDecoderConfig, "width"))
    p.add_argument("--layers", type=int, default=_default(PoseDecoderConfig, "layers"), help="decoder layers")
    p.add_argument("--image-layers", type=int, default=_default(PoseDecoderConfig, "image_layers"),
                   help="self-attention layers over the image tokens (image path; may be added to an --init decoder)")
    p.add_argument("--image-text-layers", type=int, default=_default(PoseDecoderConfig, "image_text_layers"),
                   help="layers in which the image tokens read the request (early fusion; image path; may be added "
                        "to an --init decoder)")
    p.add_argument("--epochs", type=int, default=_default(DecoderTrainConfig, "epochs"))
    p.add_argument("--joint-weight", type=float, default=_default(DecoderTrainConfig, "joint_weight"),
                   help="weight of the joint-position L1 (metres); the shipped recipe uses 1.0")
    p.add_argument("--caption-draws", type=int, default=_default(DecoderTrainConfig, "caption_draws"),
                   help="extra caption draws per training text2pose pose (augmentation; test splits unchanged)")
    p.add_argument("--brief-draws", type=int, default=_default(DecoderTrainConfig, "brief_draws"),
                   help="extra short caption draws (at most --brief-facts facts, picked at random) per training pose")
    p.add_argument("--brief-facts", type=int, default=_default(DecoderTrainConfig, "brief_facts"))
    p.add_argument("--instruction-draws", type=int, default=_default(DecoderTrainConfig, "instruction_draws"),
                   help="extra instruction-style requests per training text2pose pose ('Kneel down, then lean forward.')")
    p.add_argument("--edit-draws", type=int, default=_default(DecoderTrainConfig, "edit_draws"),
                   help="extra edit pairs per training edit record (its input pose to another training pose)")
    p.add_argument("--repeat", default="",
                   help="show some tasks' training examples several times per epoch, e.g. spg=2 (keeps a small task's "
                        "share of the mix when caption or edit draws grow the others)")
    p.add_argument("--grounding-weight", type=float, default=_default(DecoderTrainConfig, "grounding_weight"),
                   help="ground image requests in the image (a map of where the asked-for person is), trained "
                        "with this weight against the person's 2D joints")
    p.add_argument("--vision", default=DEFAULT_VISION,
                   help="image features: efficientnet-lite0 (7 x 7 ImageNet map), efficientnet-lite0-detail (plus "
                        "colour and mid-level 14 x 14 cells) or a local CLIP folder")
    p.add_argument("--seed", type=int, default=_default(DecoderTrainConfig, "seed"))
    p.add_argument("--lr", type=float, default=_default(DecoderTrainConfig, "lr"),
                   help="peak learning rate of the one-cycle schedule")
    p.add_argument("--init", default=None,
                   help="a decoder file, or a ChatPose folder with a decoder head (e.g. data/checkpoints/chatpose), to start from "
                        "(a second stage, e.g. --tasks image2pose,rpe --trainable image)")
    p.add_argument("--confidence", default=None, choices=CONFIDENCE,
                   help="the decoder's confidence gate: one factor per answer (pose, the default with --trainable "
                        "confidence) or per joint; none: no gate")
    p.add_argument("--trainable", default=_default(DecoderTrainConfig, "trainable"), choices=TRAINABLE,
                   help="image: train only the image path of an --init decoder (text and edit answers stay as they "
                        "were); confidence: add a confidence gate to it and fit only the gate, on half of the "
                        "validation requests (held out from every stage), the other half picking the epoch")
    p.add_argument("--out", default="runs/pose_decoder/decoder.pt")
    p.add_argument("--eval", action="store_true", help="evaluate on each task's test split afterwards")
    p.add_argument("--chatpose-out", default=None, help="also write a ChatPose checkpoint with this decoder as its head")
    p.add_argument("--chatpose-from", default=None,
                   help="the ChatPose checkpoint whose language parts (LoRA, token rows) it keeps (default: the shipped one)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_train_decoder)

    p = sub.add_parser("eval", help="benchmark models on a task's test split (mean, nearest, regressor, copy, chatpose)")
    p.add_argument("--task", default="all", choices=["all", *POSE_TASKS, "pose2text"],
                   help="pose2text: the model's descriptions of input poses, ranked by the retrieval model")
    p.add_argument("--model", default="all",
                   choices=["all", *MODELS, "decoder"],
                   help="all: the baselines and the shipped ChatPose; decoder: a `posekit train-decoder` file (--checkpoint)")
    p.add_argument("--checkpoint", default=None,
                   help="ChatPose checkpoint folder (default: the shipped one); for --model decoder, a decoder file or "
                        "a ChatPose folder with a decoder head")
    p.add_argument("--dtype", default="float32", choices=list(DTYPES),
                   help="ChatPose's inference dtype (the README's numbers: float32)")
    p.add_argument("--dataset", default="default")
    p.add_argument("--split", default="test", choices=["test", "val"])
    p.add_argument("--limit", type=int, default=None, help="evaluate on N records spread over the split")
    p.add_argument("--root", default=None, help="dataset folder (default: data/generated/<dataset>)")
    p.set_defaults(func=_eval)

    p = sub.add_parser("train", help="fine-tune ChatPose (CPU here; `accelerate launch -m posekit train` on GPUs)")
    p.add_argument("--out", default="runs/chatpose", help="run folder (checkpoints, log.csv, model/)")
    p.add_argument("--config", default=None, help="TrainConfig as JSON (e.g. a run's train_config.json)")
    p.add_argument("--quick", action="store_true", help="a few steps on the quick dataset")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--dataset", default=None)
    p.add_argument("--no-resume", action="store_true", help="start over even if out/checkpoints exists")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_train)

    p = sub.add_parser("export", help="copy a finished training run's trained parts (float16) and logs into a checkpoint folder")
    p.add_argument("run", help="run folder written by `posekit train`")
    p.add_argument("out", help="checkpoint folder, e.g. data/checkpoints/chatpose")
    p.set_defaults(func=_export)

    p = sub.add_parser("chat", help="chat with ChatPose (interactive, or one shot with --prompt); saves every pose",
                       description="Chat with the shipped ChatPose model (or --checkpoint). How good it is, on the "
                       "default test splits: explicit pose descriptions are its strength (text2pose PA-MPJPE 106 mm, "
                       "21 mm better than a sentence-embedding regressor; edits 132 mm; instructions such as "
                       "'Kneel down, then lean forward.' 124 mm, the average pose 154); implicit requests "
                       "('someone who just heard great news') come out 3 mm better than the average pose and "
                       "cautious (near it where the model doubts), image requests 8 mm better than an image "
                       "regressor. It follows 8 of 12 plain requests in "
                       "tests/test_plain_requests.py, but only 3 of 20 everyday requests written apart from its "
                       "training text ('hands on hips', 'kneel on one knee'): it knows the captioner's words "
                       "better than a person's. Each message is answered on its own unless --context-turns "
                       "says otherwise. Numbers and limits: README, 'How good the model is', and docs/model-design.md.")
    p.add_argument("--prompt", default=None, help="one message, answered and saved, then exit")
    p.add_argument("--image", default=None, help="an image for the (first) message")
    p.add_argument("--out", default=None, help="output folder (default: reports/chat/<time>)")
    p.add_argument("--checkpoint", default=None, help="ChatPose checkpoint folder (default: the shipped one)")
    p.add_argument("--sample", action="store_true", help="sample instead of greedy decoding")
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-new-tokens", type=int, default=160)
    p.add_argument("--no-repeat-ngram", type=int, default=0, metavar="N",
                   help="never repeat an N-token sequence within an answer (a guard against loops; 0: off)")
    p.add_argument("--dtype", default="float16", choices=list(DTYPES),
                   help="inference dtype (float16: same answers as float32 measured, ~2x faster on a CPU)")
    p.add_argument("--context-turns", type=int, default=0, metavar="N",
                   help="earlier exchanges the model reads with each message (0: each message alone, earlier poses "
                        "only through /pose; -1: all that fit). The shipped model loses its <POSE> in long histories")
    p.set_defaults(func=_chat)

    p = sub.add_parser("info", help="where posekit looks for things, and the body model it finds")
    p.add_argument("--model-type", default="posekit", choices=["posekit", "smpl", "smplh", "smplx"])
    p.add_argument("--path", default=None, help="model file or folder (else $POSEKIT_BODY_MODELS, else defaults)")
    p.set_defaults(func=_info)

    p = sub.add_parser("report", help="execute the notebooks in order and write reports/ (HTML + executed .ipynb)")
    p.add_argument("--full", action="store_true", help="full mode instead of quick mode (long steps run fully)")
    p.add_argument("--timeout", type=int, default=1800, help="per-cell timeout in seconds")
    p.add_argument("notebooks", nargs="*", help="notebook paths (default: notebooks/*.ipynb in order)")
    p.set_defaults(func=_report)

    parser.add_argument("--debug", action="store_true", default=bool(os.environ.get("POSEKIT_DEBUG")),
                        help="show the full traceback of an error (also: POSEKIT_DEBUG=1)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(f"posekit {args.command}: interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as err:
        if args.debug:
            raise
        message = " ".join(str(err).split()) or type(err).__name__
        print(f"posekit {args.command}: error: {message} (--debug shows the traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
