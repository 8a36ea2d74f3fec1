"""The ``posekit`` subcommands, one function each (``run_<command>(args) -> exit code``).

Each imports what it needs when it runs: ``posekit --help`` and a quick command do not pay for the LLM, the
renderer or the image model."""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from posekit.files import read_json


def run_build_body(args: argparse.Namespace) -> int:
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


def run_info(args: argparse.Namespace) -> int:
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


def run_build_data(args: argparse.Namespace) -> int:
    from posekit.corpus.amass import AmassSource
    from posekit.datasets import DatasetConfig, build_dataset, dataset_dir, default_workers

    amass = None
    if args.amass:
        amass = AmassSource(args.amass, every=args.amass_every, posescript=args.posescript,
                            max_files=args.amass_max_files)
    elif args.posescript:
        raise ValueError("--posescript gives captions of AMASS frames: use it with --amass PATH")
    default_name = "amass" if amass else "quick" if args.quick else "default"
    config = DatasetConfig.quick(name=args.name or default_name, seed=args.seed) if args.quick else \
        DatasetConfig(name=args.name or default_name, seed=args.seed)
    if args.scale is not None:
        config = dataclasses.replace(config, scale=args.scale)
    if args.image2pose_train_extra is not None:
        config = dataclasses.replace(config, image2pose_train_extra=args.image2pose_train_extra)
    manifest = build_dataset(config, out_dir=args.out, progress=not args.quiet, force=args.force,
                             workers=default_workers() if args.workers is None else args.workers, amass=amass)
    print(f"wrote {args.out or dataset_dir(config.name)} in {manifest['build_seconds']} s")
    for task, counts in manifest["counts"].items():
        print(f"  {task:<11}" + "  ".join(f"{split} {n:>6}" for split, n in counts.items()))
    return 0


def run_verify_data(args: argparse.Namespace) -> int:
    from posekit.datasets import DatasetError, verify_dataset

    check = verify_dataset(args.name, root=args.out, progress=not args.quiet)
    if not check.ok:
        raise DatasetError(check.summary())
    print(check.summary())
    return 0


def run_train_retrieval(args: argparse.Namespace) -> int:

    import torch

    from posekit.datasets import dataset_dir, load_records
    from posekit.encoders.text import get_text_encoder
    from posekit.evaluation.metrics import recall_at_k
    from posekit.evaluation.retrieval import (
        CHECKPOINT,
        RetrievalConfig,
        retrieval_pairs,
        save_retrieval,
        train_retrieval,
    )
    from posekit.outputs import OutputFolder
    from posekit.paths import data_dir

    out = Path(args.out) if args.out else data_dir() / "checkpoints" / CHECKPOINT
    folder = OutputFolder(out.parent, "train-retrieval", names=[out.name], force=args.force)  # before any work
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
    manifest = read_json(root / "manifest.json", "dataset manifest")
    meta = {"dataset": args.dataset, "dataset_files": manifest["files"], "train_pairs": len(train[1]),
            "test_pairs": len(test[1]), "test_full": full.as_row(), "test_pool32": pool.as_row(),
            "history": history[-1], "config": dataclasses.asdict(config)}
    path = save_retrieval(model, folder.path(out.name), meta)
    folder.record(out.name)
    print(f"saved {path}; test ({len(test[1])} pairs) full: " +
          ", ".join(f"{k} {v:.1f}" for k, v in full.as_row().items()))
    print("pool of 32: " + ", ".join(f"{k} {v:.1f}" for k, v in pool.as_row().items()))
    return 0


def run_train_composer(args: argparse.Namespace) -> int:
    import time

    from posekit.body.model import load_body_model
    from posekit.corpus.splits import load_canonical, split_canonical
    from posekit.models.chatpose import default_checkpoint_dir
    from posekit.models.part_composer import COMPOSER_FILE, PartComposerConfig, train_part_composer
    from posekit.outputs import OutputFolder

    if args.checkpoint is None and args.out is None:
        raise SystemExit("posekit train-composer: error: give --checkpoint (a ChatPose folder) or --out (a file)")
    folder = default_checkpoint_dir(args.checkpoint) if args.checkpoint else None  # a wrong folder fails first
    # where the composer goes: a file of that name that posekit did not write is refused before training
    places = [(Path(args.out).parent, Path(args.out).name)] if args.out else []
    places += [(folder, COMPOSER_FILE)] if folder else []
    targets = [(OutputFolder(where, "train-composer", names=[name], force=args.force), name) for where, name in places]
    poses = None if args.poses == "all" else [n for n, s in split_canonical(load_canonical()).items() if s == "train"]
    config = PartComposerConfig(epochs=args.epochs, phrases=args.phrases, seed=args.seed)
    start = time.perf_counter()
    composer = train_part_composer(load_body_model(), poses, config, progress=not args.quiet)
    extra = {"poses": args.poses, "seconds": round(time.perf_counter() - start, 1)}
    for target, name in targets:
        path = composer.save(target.path(name), extra)
        target.record(name)
        print(f"saved {path} ({extra['seconds']} s)")
    return 0


def run_eval_pose2text(args: argparse.Namespace) -> int:
    """Descriptions of input poses, ranked by the retrieval model: the model's, the captioner's
    (the dataset's own answers: the ceiling) and one fixed sentence for every pose (chance)."""
    import pandas as pd

    from posekit.datasets import dataset_dir, load_records
    from posekit.evaluation.benchmark import evaluate_descriptions, evenly
    from posekit.evaluation.retrieval import load_retrieval
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


def run_eval(args: argparse.Namespace) -> int:
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
        return run_eval_pose2text(args)
    tasks = EVAL_TASKS if args.task == "all" else (args.task,)
    models = MODELS if args.model == "all" else (args.model,)
    if "chatpose" in models:
        from posekit.models.chatpose import default_checkpoint_dir

        print(f"ChatPose checkpoint: {default_checkpoint_dir(args.checkpoint)}"
              + ("" if args.checkpoint else " (the evaluated checkpoint: trained on the training poses only)"))
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


def run_train_decoder(args: argparse.Namespace) -> int:
    import time

    import pandas as pd

    from posekit import distributed
    from posekit.encoders.llm import read_layer
    from posekit.encoders.state_cache import DEFAULT_STATE_LAYER
    from posekit.encoders.vision import check_vision_name
    from posekit.evaluation.benchmark import EVAL_TASKS, evaluate_model, pose_table
    from posekit.models.chatpose import attach_to_chatpose, default_checkpoint_dir, load_decoder, stage_record
    from posekit.models.chatpose.checkpoint import is_checkpoint_folder
    from posekit.models.decoder import (
        DecoderTrainConfig,
        PoseDecoderConfig,
        check_decoder_out,
        fit_state_decoder,
        parse_task_repeats,
    )
    from posekit.outputs import OutputFolder, check_replaceable

    tasks = tuple(t.strip() for t in args.tasks.split(",") if t.strip())
    unknown = sorted(set(tasks) - set(EVAL_TASKS))
    if unknown or not tasks:
        raise ValueError(f"--tasks must name some of {', '.join(EVAL_TASKS)}; got {args.tasks!r}")
    if args.epochs < 1:
        raise ValueError(f"--epochs must be >= 1, got {args.epochs}")
    check_vision_name(args.vision)  # before minutes of state caching
    out = Path(args.out)
    check_decoder_out(out, args.force)
    if args.chatpose_out:
        check_replaceable(args.chatpose_out, args.force, legacy=is_checkpoint_folder, what="checkpoint folder")
    # the side files named after --out: replaced only where posekit wrote them (before any work)
    sides = [out.with_suffix(s).name for s in (".log.csv", ".training.pt", ".results_test.csv")]
    folder = OutputFolder(out.parent, "train-decoder", names=sides, force=args.force)
    train = DecoderTrainConfig(epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                               joint_weight=args.joint_weight, lr=args.lr, trainable=args.trainable,
                               caption_draws=args.caption_draws, brief_draws=args.brief_draws,
                               brief_facts=args.brief_facts, instruction_draws=args.instruction_draws,
                               edit_draws=args.edit_draws, task_repeats=parse_task_repeats(args.repeat),
                               grounding_weight=args.grounding_weight, plain_targets=args.plain_targets)
    def log(row: dict) -> None:
        if distributed.is_main():
            print(f"epoch {row['epoch']:>3}: train {row['train_loss']:.4f}  val {row['val_loss']:.4f}  "
                  f"({row['seconds']:.0f} s)", flush=True)

    start = time.time()
    resume = out.with_suffix(".training.pt")
    if resume.is_file() and distributed.is_main():
        print(f"resuming from {resume} after its last finished epoch (delete it to start over)", flush=True)
    layer = DEFAULT_STATE_LAYER if args.layer is None else read_layer(args.layer, args.llm)
    config = PoseDecoderConfig(width=args.width, layers=args.layers, grounding=args.grounding_weight > 0,
                               image_layers=args.image_layers, image_text_layers=args.image_text_layers,
                               confidence=args.confidence or ("pose" if args.trainable == "confidence" else "none"),
                               recall=args.recall, sentence_dim=384 if args.sentence else 0)
    model, history = fit_state_decoder(args.dataset, tasks, layer, backbone=args.llm, config=config, train=train,
                                       progress=not args.quiet, log=log, checkpoint=resume,
                                       vision=args.vision, init=load_decoder(args.init) if args.init else None,
                                       poses=args.poses)
    if not distributed.is_main():  # under a launcher: one process writes and evaluates
        return 0
    # how this stage was trained, with every stage before it: in the decoder file and in --chatpose-out
    recipe = {"tasks": list(tasks), "dataset": args.dataset, "train": dataclasses.asdict(train), "history": history,
              "init": stage_record(args.init) if args.init else None, "poses": args.poses}
    model.save(out, {**recipe, "seconds": round(time.time() - start, 1)})
    pd.DataFrame(history).to_csv(folder.path(out.with_suffix(".log.csv").name), index=False)
    folder.record(out.name, out.with_suffix(".log.csv").name, out.with_suffix(".training.pt").name)
    print(f"saved {out} ({time.time() - start:.0f} s)")
    if args.chatpose_out:
        source = args.chatpose_from or default_checkpoint_dir()
        path = attach_to_chatpose(model, source, args.chatpose_out, {"decoder_training": {**recipe, "layer": layer}},
                                  force=args.force)
        print(f"ChatPose checkpoint with this decoder as its pose head: {path} (language parts from {source})")
    if args.eval:
        frames = [evaluate_model("decoder", t, dataset=args.dataset, model=model, write_csv=False).summary for t in tasks]
        table = pd.concat(frames, ignore_index=True)
        table.to_csv(folder.path(out.with_suffix(".results_test.csv").name), index=False)
        folder.record(out.with_suffix(".results_test.csv").name)
        with pd.option_context("display.width", 200):
            print(pose_table(table))
    return 0


def _ensure_named_dataset(name: str, progress: bool) -> None:
    """Build posekit's named datasets ("default", "quick") on first use: under a launcher the main
    process builds, the others wait."""
    from posekit import distributed
    from posekit.datasets import DatasetConfig, ensure_dataset

    if name in ("default", "quick"):
        with distributed.main_first():
            ensure_dataset(DatasetConfig.quick() if name == "quick" else DatasetConfig(),
                           progress=progress and distributed.is_main())


def run_train(args: argparse.Namespace) -> int:
    from posekit import distributed
    from posekit.evaluation.benchmark import validation
    from posekit.models.chatpose.training import TrainConfig, train

    config = TrainConfig.quick() if args.quick else TrainConfig()
    if args.config:
        config = TrainConfig.from_dict(read_json(args.config, "--config file"))
    overrides = {k: getattr(args, k) for k in ("steps", "batch_size", "lr", "seed", "dataset", "mixed_precision")
                 if getattr(args, k) is not None}
    config = dataclasses.replace(config, **overrides)
    if args.llm:
        config = dataclasses.replace(config, model=dataclasses.replace(config.model, backbone=args.llm))
    # several processes (torchrun, accelerate launch): one job; the first builds what is missing, the others wait
    _ensure_named_dataset(config.dataset, not args.quiet)
    result = train(config, out_dir=args.out, resume=not args.no_resume, progress=not args.quiet, force=args.force,
                   validate=validation(config) if config.eval_limit else None)
    state = distributed.job()
    if state.is_main_process:
        last = result.log.iloc[-1]
        print(f"step {int(last['step'])}: loss {last['loss']:.3f} (CE {last['ce']:.3f}, rotmat L1 {last['rotmat']:.4f}); "
              f"{last['samples_per_s']:.2f} samples/s, {last['tokens_per_s']:.0f} tokens/s"
              f"{f' per process, {state.num_processes} processes' if state.num_processes > 1 else ''}")
        print(f"model: {Path(args.out) / 'model'}  (load with posekit.models.chatpose.ChatPose.load)")
    return 0


def run_chat(args: argparse.Namespace) -> int:
    from posekit.chat.commands import run_chat as chat_loop

    return chat_loop(args)


def run_photo(args: argparse.Namespace) -> int:
    import os
    import time

    from posekit.body.model import load_body_model
    from posekit.chat.export import save_obj, save_pose_npz
    from posekit.chat.tools import nearest_canonical
    from posekit.encoders.vision import read_photo_rgb
    from posekit.outputs import OutputFolder
    from posekit.paths import reports_dir
    from posekit.photos import read_photo
    from posekit.viz import draw_skeletons, plot_bodies

    image = read_photo_rgb(args.photo)  # a bad, tiny or blank file fails before the models load
    name = Path(args.photo).stem
    out = Path(args.out) if args.out else reports_dir() / "photos" / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    folder = OutputFolder(out, "photo", names=("overlay.png", "bodies.html"), patterns=("person_*",), force=args.force)
    body = load_body_model()
    people, fit = read_photo(image, max_people=args.max_people, body=body)
    draw_skeletons(image, fit.projected, [p.image_xy[p.visibility >= 0.5] for p in people]).save(
        folder.path("overlay.png"))
    posed = body(fit.pose[:, 0], fit.pose[:, 1:])
    for k in range(len(people)):
        save_pose_npz(folder.path(f"person_{k}.npz"), fit.pose[k])
        save_obj(folder.path(f"person_{k}.obj"), posed.vertices[k], body.faces)
        looks, gap, _ = nearest_canonical(fit.joints[k], body)
        seen = int((people[k].visibility >= 0.5).sum())
        print(f"person {k}: {seen} of 33 landmarks seen, reprojection {float(fit.reprojection[k]):.1f} % of the "
              f"height, {'plausible' if fit.plausible[k] else 'NOT plausible'}, nearest canonical pose: {looks} "
              f"({gap * 100:.0f} cm mean joint gap)")
    plot_bodies([(posed.vertices[k], body.faces, posed.joints[k]) for k in range(len(people))],
                titles=[f"person {k}" for k in range(len(people))], cols=min(len(people), 4),
                height=520).write_html(folder.path("bodies.html"), include_plotlyjs=True, full_html=True)
    folder.record("overlay.png", "bodies.html", *(f"person_{k}.{s}" for k in range(len(people)) for s in ("npz", "obj")))
    print(f"{len(people)} people in {args.photo} ({fit.seconds:.2f} s to fit); files in {out}: overlay.png, "
          "bodies.html, person_N.npz (SMPL parameters), person_N.obj")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from posekit.models.chatpose.training import export_run

    out = export_run(args.run, args.out, force=args.force)
    size = sum(p.stat().st_size for p in out.iterdir()) / 1e6
    print(f"exported {args.run} -> {out} ({size:.1f} MB)")
    return 0


def run_report(args: argparse.Namespace) -> int:
    from posekit.report import build_report

    index = build_report(quick=not args.full, notebooks=args.notebooks or None, timeout=args.timeout,
                         force=args.force)
    print(f"report: {index}")
    return 0
