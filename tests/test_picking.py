"""Which person a request means (posekit.photos.picking): words for colour, place and size, else the
fitted pose nearest to a guide's answer."""
import numpy as np
import torch

from posekit.photos import PhotoPerson
from posekit.photos.picking import clothing_color, nearest_person, pick_person, request_attributes


def _person(x: float, height: float = 100.0) -> PhotoPerson:
    """A stick person standing at ``x`` (pixels), feet at y = 150."""
    xy = np.zeros((33, 2))
    xy[:, 0], xy[:, 1] = x, 150 - height / 2
    xy[[11, 23]] += [10, 0]  # left side
    xy[[12, 24]] -= [10, 0]
    xy[[11, 12], 1], xy[[23, 24], 1] = 150 - 0.8 * height, 150 - 0.45 * height
    return PhotoPerson(xy, np.ones(33), np.zeros((33, 3)), (x - 12, 150 - height, x + 12, 150))


def test_the_words_that_name_a_look_or_a_place_are_read():
    assert request_attributes("Give the pose of the person in RED.") == {"color": "red"}
    assert request_attributes("the one on the far left of the image") == {"position": "left"}
    assert request_attributes("What is the pose of the tallest person?") == {"height": "tallest"}
    assert request_attributes("the person in the middle, wearing gray") == {"color": "grey", "position": "middle"}
    assert request_attributes("the one who is about to kick the ball") == {}
    assert request_attributes("Bring the left arm across.") == {}  # "left" alone is no place


def test_people_are_picked_by_colour_place_size_or_the_guide():
    image = np.full((200, 300, 3), 200, dtype=np.uint8)
    people = [_person(60), _person(150, height=130), _person(240, height=90)]
    image[60:110, 50:71] = (200, 30, 30)  # the first one's torso is red
    image[50:100, 140:161] = (40, 80, 200)  # the second's blue
    image[70:120, 230:251] = (30, 160, 60)  # the third's green
    assert np.allclose(clothing_color(image, people[1]), (40, 80, 200))
    assert pick_person("the person in blue", image, people)[0] == 1
    assert pick_person("the one wearing green", image, people)[0] == 2
    assert pick_person("the person on the far right", image, people)[0] == 2
    assert pick_person("the one on the left", image, people)[0] == 0
    assert pick_person("the tallest person", image, people)[0] == 1
    assert pick_person("the shortest person", image, people)[0] == 2
    joints = torch.randn(3, 24, 3, generator=torch.Generator().manual_seed(0))
    guide = joints[2] * 1.3 + 0.5  # the third one's pose, scaled and moved
    index, why = pick_person("the one about to catch the ball", image, people, joints, guide)
    assert index == 2 and "nearest" in why
    assert nearest_person(joints, joints[1]) == 1
    assert pick_person("anyone", image, people[:1]) == (0, "the only person found")
