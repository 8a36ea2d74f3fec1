"""Training the pose decoder on cached request states (one loop, exact resume), and the recipe's
first two stages in one call (:func:`fit_state_decoder`)."""
from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import torch
from torch import nn

from posekit import distributed
from posekit.body.model import load_body_model
from posekit.corpus.library import canonical_poses
from posekit.datasets import dataset_dir, extra_edit_pairs, load_records, recaptioned
from posekit.datasets.plain import plain_records, source_pools, train_descriptions
from posekit.datasets.records import Record
from posekit.encoders.llm import DEFAULT_BACKBONE, load_backbone
from posekit.encoders.state_cache import DEFAULT_STATE_LAYER, request_states
from posekit.encoders.text import TEXT_DIM
from posekit.encoders.vision import DEFAULT_VISION, make_vision_encoder
from posekit.files import atomic_path, read_torch_file
from posekit.models.baselines import MeanPose
from posekit.models.decoder.config import (
    DECODER_TASKS,
    GROWABLE,
    TRAINABLE_PARTS,
    DecoderTrainConfig,
    PoseDecoderConfig,
)
from posekit.models.decoder.examples import (
    grounding_target,
    group_batches,
    held_out_halves,
    image_side,
    make_examples,
    run_decoder,
)
from posekit.models.decoder.inference import aligned_image_tokens
from posekit.models.decoder.network import PoseDecoder
from posekit.models.decoder.recall import build_label_memory, sentence_inputs
from posekit.models.decoder.state_model import StatePoseModel
from posekit.models.losses import joint_loss, pose_loss

__all__ = ["check_start", "train_pose_decoder", "fit_state_decoder"]


def check_start(train: DecoderTrainConfig, init) -> None:
    """A run that trains part of a decoder (:attr:`DecoderTrainConfig.trainable`) needs one to start from."""
    if train.trainable != "all" and init is None:
        raise ValueError(f"trainable={train.trainable!r} trains part of a decoder: start from a trained one "
                         "(init=, --init FILE)")


def train_pose_decoder(train_records: list[Record], train_states, val_records: list[Record], val_states,
                       config: PoseDecoderConfig = PoseDecoderConfig(), train: DecoderTrainConfig = DecoderTrainConfig(),
                       progress: bool = True, log=None, train_images: torch.Tensor | None = None,
                       val_images: torch.Tensor | None = None, checkpoint: str | Path | None = None,
                       image_size: int = 224, init: PoseDecoder | None = None, memory=None, train_recall=None,
                       val_recall=None) -> tuple[PoseDecoder, list[dict]]:
    """Train a :class:`PoseDecoder` on cached states (:func:`posekit.encoders.state_cache.request_states` of the
    same records, in the same order; ``*_images``: :func:`posekit.encoders.state_cache.image_tokens` rows aligned
    with the records, zeros for records without an image); returns the model at its best
    validation epoch and the history. ``image_size``: the images' side in pixels (where the 2D
    joints of :attr:`DecoderTrainConfig.grounding_weight` lie). ``init``: start from this trained
    decoder (same config) instead of the mean pose, its state standardisation and mean pose
    kept: a second stage on some of the tasks (e.g. the image tasks at a lower ``lr``).

    ``memory``: the :class:`~posekit.models.decoder.recall.LabelMemory` a decoder that recalls
    poses reads (:attr:`PoseDecoderConfig.recall`), ``*_recall``: the records'
    :class:`~posekit.models.decoder.recall.RecallInputs` (a decoder that reads the requests' words).

    ``checkpoint``: a file written atomically after every epoch (model, optimizer, schedule, RNG
    states, history); a run started again with the same file resumes after its last finished
    epoch and ends exactly as an uninterrupted run would.

    Data parallel under a launcher (``torchrun --nproc_per_node N``; :mod:`posekit.distributed`):
    every process draws the same global batches, takes its share of each batch's rows and the
    gradients are averaged in one all-reduce per step, so that N processes train the decoder one
    process would (up to the order of float sums; dropout masks are drawn per process). Validation
    batches are shared out and their losses summed; only the main process writes ``checkpoint``.
    On a GPU the decoder trains there, in bfloat16 autocast. The model comes back on the CPU."""
    from tqdm.auto import tqdm

    torch.manual_seed(train.seed)
    gen = torch.Generator().manual_seed(train.seed)
    where = distributed.device()
    body = None
    if train.joint_weight > 0:
        body = load_body_model().to(where)

    def objective(six_d: torch.Tensor, target: torch.Tensor, per_example: bool = False) -> torch.Tensor:
        """The training loss, also the validation loss that picks the best epoch."""
        loss = pose_loss(six_d, target, per_example)
        return loss if body is None else loss + train.joint_weight * joint_loss(body, six_d, target, per_example)
    absent = sorted(set(train.task_repeats) - {r.task for r in train_records})
    if absent:
        raise ValueError(f"task_repeats names {', '.join(absent)}, which no training record has "
                         f"(the run's tasks: {', '.join(sorted({r.task for r in train_records}))})")
    tr, va = make_examples(train_records, config.max_poses, train.task_repeats), make_examples(val_records, config.max_poses)
    decoder = PoseDecoder(config, MeanPose().fit([r for r in train_records if r.target_poses]).pose)
    if init is not None:
        grown = {name: getattr(config, name) for name in GROWABLE}
        grows = (dataclasses.replace(init.config, **grown) == config
                 and all(getattr(init.config, name) in (0, "none", value) for name, value in grown.items()))
        if init.config != config and not grows:
            raise ValueError(f"init decoder has config {init.config}, this run {config}: start from a decoder of the "
                             "same architecture, backbone layer and image features (it may add image_layers or "
                             "image_text_layers or a confidence gate to one without them)")
        # its standardisation and mean pose too: the inputs it was trained on; added image layers start as the identity
        decoder.load_state_dict(init.state_dict(), strict=not grows)
    else:
        flat = train_states.flat.float()
        decoder.set_standardisation(flat.mean(0), flat.std(0))
        del flat
    if config.reads_sentence:
        if memory is None or train_recall is None or val_recall is None:
            raise ValueError("a decoder that reads the requests' words needs memory=, train_recall= and val_recall=")
        decoder.set_label_memory(memory.keys, memory.owner, memory.table)
    if train.grounding_weight > 0 and not config.grounding:
        raise ValueError("grounding_weight trains the grounding map: use PoseDecoderConfig(grounding=True)")
    decoder.to(where)

    def train_loss(rows: torch.Tensor) -> torch.Tensor:
        """The objective, plus the grounding loss on the batch's examples with known 2D joints; with a
        retrieval memory, each candidate answer's objective weighed by its probability (the expected
        loss of choosing one: it pays to put the weight on the best candidate, not to hedge)."""
        if config.recall:
            candidates, logits = run_decoder(decoder, train_states, tr, rows, train_images, recall=train_recall,
                                             candidates=True)
            target = tr.target[rows].to(where)
            each = torch.stack([objective(candidates[:, c], target, per_example=True)
                                for c in range(candidates.shape[1])], 1)  # (b, C)
            return (logits.softmax(-1) * each).sum(1).mean()
        if train.grounding_weight == 0:
            return objective(run_decoder(decoder, train_states, tr, rows, train_images, recall=train_recall),
                             tr.target[rows].to(where))
        features, grounding = run_decoder(decoder, train_states, tr, rows, train_images, features=True, recall=train_recall)
        loss = objective(decoder.rotations(features), tr.target[rows].to(where))
        points = tr.keypoints[rows].to(where)  # (b, 24, 2) pixels, NaN: unknown
        known = ~points.isnan().any(-1).any(-1)
        if grounding is not None and known.any():
            goal = grounding_target(points[known].cpu(), image_size, grounding.shape[1]).to(where)
            loss = loss - train.grounding_weight * (goal * grounding[known]).sum(-1).mean()
        return loss
    check_start(train, init)
    if train.trainable == "confidence" and config.confidence == "none":
        raise ValueError("trainable='confidence' fits the confidence gate: use PoseDecoderConfig(confidence='pose')")
    part = TRAINABLE_PARTS.get(train.trainable)
    params = [p for name, p in decoder.named_parameters() if part is None or name.startswith(part)]
    if part is not None:
        for name, p in decoder.named_parameters():
            p.requires_grad_(name.startswith(part))
    opt = torch.optim.AdamW(params, lr=train.lr, weight_decay=train.weight_decay)
    steps = train.epochs * len(group_batches(tr, train_states.lengths[tr.request], train.batch_size, None))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=train.lr, total_steps=max(steps, 1), pct_start=0.1)
    best, best_state, history, waited, first = math.inf, None, [], 0, 0
    if checkpoint is not None and Path(checkpoint).is_file():
        saved = read_torch_file(checkpoint, "decoder training state")
        if saved["config"] != dataclasses.asdict(config) or saved["train"] != dataclasses.asdict(train):
            raise ValueError(f"{checkpoint} belongs to another run (config differs); delete it or pass another path")
        decoder.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        sched.load_state_dict(saved["scheduler"])
        gen.set_state(saved["generator"])
        # each process's own random state (its dropout masks), when the run had as many processes
        torch.set_rng_state(distributed.own_state(saved.get("torch_rng_per_process"), saved["torch_rng"]))
        best, best_state, history, waited = saved["best"], saved["best_state"], saved["history"], saved["waited"]
        first = len(history)
    for epoch in range(first, train.epochs):
        if waited >= train.patience:
            break
        start = time.time()
        decoder.train(train.trainable != "confidence")  # a gate is fitted to the answers the decoder gives
        total, count = 0.0, 0
        batches = group_batches(tr, train_states.lengths[tr.request], train.batch_size, gen)
        for rows in tqdm(batches, desc=f"epoch {epoch + 1}/{train.epochs}", disable=not (progress and distributed.is_main()),
                         leave=False):
            mine, weight = distributed.share(rows)  # all of them in one process
            with distributed.autocast(where):
                loss = train_loss(mine)
            opt.zero_grad()
            (loss * weight).backward()
            distributed.average_gradients(params)
            nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            total += loss.item() * len(mine) * (weight > 0)
            count += len(mine) * (weight > 0)
        decoder.eval()
        with torch.no_grad():
            val = 0.0
            batches = group_batches(va, val_states.lengths[va.request], 256, None)
            for rows in batches[distributed.process_index()::distributed.num_processes()]:
                with distributed.autocast(where):
                    val += objective(run_decoder(decoder, val_states, va, rows, val_images, recall=val_recall),
                                     va.target[rows].to(where)).item() * len(rows)
        total, count, val = distributed.sum_across([total, count, val])
        val /= max(len(va.target), 1)
        row = {"epoch": epoch + 1, "train_loss": total / max(count, 1), "val_loss": val, "seconds": time.time() - start}
        if not (math.isfinite(row["train_loss"]) and math.isfinite(val)):  # nothing is saved from a diverged run
            raise ValueError(f"training diverged at epoch {epoch + 1} (train loss {row['train_loss']}, validation loss "
                             f"{val}); nothing was saved: lower the learning rate (--lr), or check the cached states "
                             "for NaN (delete $POSEKIT_CACHE/states to compute them again)")
        history.append(row)
        if log is not None:
            log(row)
        if val < best:
            best, waited = val, 0
            best_state = {k: v.clone() for k, v in decoder.state_dict().items()}
        else:
            waited += 1
        rngs = distributed.gather_objects(torch.get_rng_state()) if checkpoint is not None else None
        if checkpoint is not None and distributed.is_main():
            with atomic_path(checkpoint) as tmp:
                torch.save({"config": dataclasses.asdict(config), "train": dataclasses.asdict(train),
                            "model": decoder.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                            "generator": gen.get_state(), "torch_rng": rngs[0], "torch_rng_per_process": rngs,
                            "best": best, "best_state": best_state, "history": history, "waited": waited}, tmp)
        distributed.barrier()  # the checkpoint is whole before any process goes on
    if best_state is not None:
        decoder.load_state_dict(best_state)
    decoder.requires_grad_(True)
    decoder.eval()
    return decoder.cpu(), history


def fit_state_decoder(dataset: str = "default", tasks=DECODER_TASKS, layer: int | None = None,
                      backbone: str | None = None, config: PoseDecoderConfig | None = None,
                      train: DecoderTrainConfig = DecoderTrainConfig(), root: Path | None = None,
                      progress: bool = True, log=None, checkpoint: str | Path | None = None,
                      vision: str = DEFAULT_VISION, init: str | Path | StatePoseModel | None = None,
                      poses: str = "train") -> tuple[StatePoseModel, list[dict]]:
    """The staged recipe's first two stages in one call: cache the request states of ``tasks``'
    train and val splits (and the image tokens of the encoder ``vision``), then train one decoder
    across the tasks on them (``checkpoint``: see :func:`train_pose_decoder`, a stopped run resumes;
    ``init``: a decoder (or a decoder file; a ChatPose folder's head:
    :func:`posekit.models.chatpose.load_decoder`) to start from, read at the same layer of the same backbone with the
    same image features). ``poses``: which canonical poses the requests in everyday words
    (:attr:`DecoderTrainConfig.plain_targets`) and the label memory (:attr:`PoseDecoderConfig.recall`)
    cover: ``"train"``, those of the training split (a model evaluated on held-out poses), or
    ``"all"`` (a release model, every canonical pose)."""

    layer = DEFAULT_STATE_LAYER if layer is None else layer
    backbone = backbone or DEFAULT_BACKBONE
    check_start(train, init)  # before minutes of caching
    start = None
    if init is not None:
        start = init if isinstance(init, StatePoseModel) else StatePoseModel.load(init)
        if (start.layer, start.backbone, start.vision) != (layer, backbone, vision):
            raise ValueError(f"{init} reads layer {start.layer} of {start.backbone} with {start.vision} image features; "
                             f"this run reads layer {layer} of {backbone} with {vision}: pass the same --layer/--vision")
    root = Path(root) if root is not None else dataset_dir(dataset)
    splits = {s: [r for t in tasks for r in load_records(t, s, root=root) if r.target_poses] for s in ("train", "val")}
    if train.trainable == "confidence":  # the gate learns how far to trust answers to requests the decoder never saw
        splits = dict(zip(("train", "val"), held_out_halves(splits["val"], train.seed)))
    # after the records (a missing dataset fails in a second); on a GPU in bfloat16 (the states are stored in float16)
    where = distributed.device()
    llm = load_backbone(backbone, dtype=torch.bfloat16 if where.type == "cuda" else torch.float32)
    llm[0].to(where)
    if "text2pose" in tasks:  # recaptioned gives [] for 0 draws
        splits["train"] += (recaptioned(splits["train"], train.caption_draws, seed=train.seed + 1)
                            + recaptioned(splits["train"], train.brief_draws, seed=train.seed + 2,
                                          max_facts=train.brief_facts)
                            + recaptioned(splits["train"], train.instruction_draws, seed=train.seed + 3,
                                          style="instruction"))
    if "edit" in tasks:
        splits["train"] += extra_edit_pairs(splits["train"], train.edit_draws, seed=train.seed + 4)
    if poses not in ("train", "all"):
        raise ValueError(f"poses must be 'train' or 'all', got {poses!r}")
    canonical = canonical_poses()
    text2pose = {s: load_records("text2pose", s, root=root) for s in ("train", "val", "test")}
    known = {s: sorted({r.meta.get("source") for r in recs} & set(canonical)) for s, recs in text2pose.items()}
    covered = known["train"] if poses == "train" else sorted(canonical)  # what the memory and the plain records cover
    extra = {"train": [], "val": []}  # states cached apart, so that the dataset's cache stays valid
    if train.plain_targets:
        def plain(split_poses: list[str], pool_splits: tuple[str, ...], split: str, part: str = "all") -> list[Record]:
            """Plain records of ``split_poses``, their variants from ``pool_splits`` only."""
            pools = source_pools([r for s in pool_splits for r in text2pose[s]], {n: canonical[n] for n in split_poses})
            return plain_records(pools, split, targets=train.plain_targets, seed=train.seed + 5, part=part)
        # validation: the validation poses' requests (unseen poses) and a held-out fifth of the
        # training poses' wordings (unseen words for a known pose), as the test bank has both
        pool_splits = ("train",) if poses == "train" else ("train", "val", "test")
        held = plain(covered, pool_splits, "val", part="held")
        if poses == "train":
            held = plain(known["val"], ("val",), "val") + held
        if train.trainable == "confidence":  # the gate is fitted on requests no stage trained on
            extra["train"], extra["val"] = held_out_halves(held, train.seed)
        else:
            extra["train"] = plain(covered, pool_splits, "train", part="kept")
            extra["val"] = held
    memory = None
    config = config or PoseDecoderConfig()
    if config.reads_sentence:
        memory = build_label_memory(covered, descriptions=None if poses == "all" else train_descriptions(
            load_records("spg", "train", root=root)))
        config = dataclasses.replace(config, recall_labels=len(memory.texts), recall_poses=len(memory.table),
                                     sentence_dim=config.sentence_dim and TEXT_DIM)
    states = {s: request_states(recs, layer, backbone, progress=progress, model=llm) for s, recs in splits.items()}
    for s, recs in extra.items():
        if recs:
            states[s] = states[s] + request_states(recs, layer, backbone, progress=progress, model=llm)
            splits[s] = splits[s] + recs
    images = {s: aligned_image_tokens(recs, root, progress=progress, vision=vision) for s, recs in splits.items()}
    recall = {s: sentence_inputs(recs, memory) if memory is not None else None for s, recs in splits.items()}
    config = dataclasses.replace(config, state_dim=states["train"].flat.shape[1])
    if images["train"] is not None:

        encoder = make_vision_encoder(vision)
        config = dataclasses.replace(config, image_dim=encoder.dim, image_tokens=encoder.tokens,
                                     image_detail_dim=encoder.detail_dim)
    decoder, history = train_pose_decoder(splits["train"], states["train"], splits["val"], states["val"], config,
                                          train, progress=progress, log=log, train_images=images["train"],
                                          val_images=images["val"], checkpoint=checkpoint,
                                          image_size=image_side(splits["train"], root),
                                          init=start.decoder if start is not None else None, memory=memory,
                                          train_recall=recall["train"], val_recall=recall["val"])
    return StatePoseModel(decoder, layer, backbone, llm, vision), history
