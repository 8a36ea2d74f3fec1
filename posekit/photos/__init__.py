"""Real photographs: each person's landmarks (:mod:`~posekit.photos.landmarks`, BlazePose offline), an SMPL
body fitted to them (:mod:`~posekit.photos.fit`) and the photo path as a pose model for the benchmark
(:mod:`~posekit.photos.predictor`)."""
from posekit.photos.fit import (
    BONES,
    LANDMARK_SOURCES,
    POINTS,
    FitConfig,
    PhotoFit,
    bone_vectors,
    fit_people,
    person_from_joints,
    reprojection,
)
from posekit.photos.landmarks import (
    LANDMARK_NAMES,
    PHOTO_INSTALL,
    NoPersonError,
    PhotoPerson,
    find_people,
    photo_path_available,
)

__all__ = ["LANDMARK_NAMES", "PHOTO_INSTALL", "NoPersonError", "PhotoPerson", "find_people", "photo_path_available",
           "POINTS", "BONES", "LANDMARK_SOURCES", "FitConfig", "PhotoFit", "fit_people", "reprojection",
           "person_from_joints", "bone_vectors", "read_photo"]


def read_photo(photo, max_people: int = 4, body=None,
               config: FitConfig = FitConfig()) -> tuple[list[PhotoPerson], PhotoFit]:
    """Every person in ``photo`` and their fitted bodies (:func:`find_people`, then :func:`fit_people`)."""
    people = find_people(photo, max_people=max_people)
    return people, fit_people(people, body=body, config=config)
