"""Rendering a dataset's scenes to PNG files, in worker processes (one thread each, so the bytes do
not depend on the worker count)."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import torch

from posekit.corpus.scenes import render_scene

__all__ = ["IMAGE_BLOCK", "SceneRenderer", "default_workers"]


IMAGE_BLOCK = 256
"""Scenes drawn, then rendered together (bounds the memory the scenes of one block take)."""

_WORKER_FACES: torch.Tensor | None = None


def _start_render_worker(faces: torch.Tensor) -> None:
    global _WORKER_FACES
    torch.set_num_threads(1)  # one process per core
    _WORKER_FACES = faces


def _render_to_file(job: tuple) -> torch.Tensor:
    """Render one scene (sent without its faces: the worker holds them) and write its PNG;
    returns the people's 2D joints ``(P, 24, 2)``."""
    from PIL import Image

    scene, path = job
    if scene.faces is None:
        scene = dataclasses.replace(scene, faces=_WORKER_FACES)
    result = render_scene(scene)
    Image.fromarray(result.image.numpy()).save(path, optimize=False, compress_level=1)
    return result.joints_2d


class SceneRenderer:
    """Renders scenes to PNG files, in ``workers`` processes (in this one when ``workers <= 1``).
    Each image is rendered with one thread, so the bytes do not depend on the worker count."""

    def __init__(self, faces: torch.Tensor, root: Path, workers: int):
        self.faces, self.root, self.workers, self.pool = faces, Path(root), workers, None

    def __enter__(self) -> "SceneRenderer":
        if self.workers > 1:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self.pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=_start_render_worker, initargs=(self.faces,))
        return self

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=exc[0] is None, cancel_futures=True)

    def submit(self, jobs: list[tuple]):
        """Start rendering ``jobs`` (see :meth:`render`); returns a function that waits for them
        and gives their 2D joints. In worker processes the caller can draw the next scenes meanwhile."""
        if self.pool is None:
            done = self.render(jobs)
            return lambda: done
        light = [(dataclasses.replace(scene, faces=None), self.root / path) for scene, path in jobs]
        futures = [self.pool.submit(_render_to_file, job) for job in light]

        def wait() -> list[torch.Tensor]:
            from concurrent.futures.process import BrokenProcessPool

            try:
                return [future.result() for future in futures]
            except BrokenProcessPool:
                self._fall_back()
                return self.render(jobs)
        return wait

    def _fall_back(self) -> None:
        """Render in this process from now on (every block already sent to the broken pool lands here)."""
        import warnings

        if self.pool is None:  # an earlier block already fell back
            return
        warnings.warn("render workers could not start (does the calling script guard its entry point with "
                      "`if __name__ == \"__main__\":`?); rendering in this process instead", RuntimeWarning,
                      stacklevel=3)
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.pool = None

    def render(self, jobs: list[tuple]) -> list[torch.Tensor]:
        """``[(scene, relative image path), ...]`` -> each scene's 2D joints, in order, rendered in
        this process (:meth:`submit` sends them to the workers)."""
        threads = torch.get_num_threads()
        _start_render_worker(self.faces)
        try:
            return [_render_to_file((scene, self.root / path)) for scene, path in jobs]
        finally:
            torch.set_num_threads(threads)


def default_workers() -> int:
    """Render processes for a dataset build: one per CPU core, at most 4."""
    return max(1, min(4, os.cpu_count() or 1))
