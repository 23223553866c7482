"""detection/sides.py: the detector's left/right flips found and undone, real turns left alone."""

import dataclasses

import numpy as np

from posemoe_blender.detection import sides
from posemoe_blender.detection.body import Detections
from posemoe_blender.joints import JOINT_INDEX as J, MIRROR, NUM_JOINTS


def _body(yaw_deg: np.ndarray) -> np.ndarray:
    """(T, 17, 3) camera-axes joints (x right, y down, z forward) of a standing body whose
    left side points along yaw (0 = the body's left towards image +x, i.e. facing away)."""
    T = len(yaw_deg)
    yaw = np.radians(yaw_deg)
    left = np.stack([np.cos(yaw), np.zeros(T), np.sin(yaw)], axis=1)       # (T, 3)
    w = np.zeros((T, NUM_JOINTS, 3))
    layout = {"LHip": (0.10, 0.0), "RHip": (-0.10, 0.0), "LKnee": (0.10, 0.45), "RKnee": (-0.10, 0.45),
              "LAnkle": (0.10, 0.9), "RAnkle": (-0.10, 0.9), "Spine": (0, -0.25), "Thorax": (0, -0.5),
              "Neck": (0, -0.6), "Head": (0, -0.72), "LShoulder": (0.18, -0.5), "RShoulder": (-0.18, -0.5),
              "LElbow": (0.2, -0.22), "RElbow": (-0.2, -0.22), "LWrist": (0.21, 0.02), "RWrist": (-0.21, 0.02)}
    for name, (side, down) in layout.items():
        w[:, J[name]] = side * left + np.array([0.0, down, 0.0])
    return w.astype(np.float32)


def test_a_flip_is_found_and_undone_and_a_turn_is_not():
    T = 90
    yaw = np.linspace(0, 170, T)                    # a half turn over 3 s at 30 fps: a real turn
    w = _body(yaw)
    assert not sides.find_flips(w).any()
    bad = np.zeros(T, bool)
    bad[30:52] = True                               # the detector swaps left and right for 22 frames
    flipped = w.copy()
    flipped[bad] = flipped[bad][:, list(MIRROR)]
    found = sides.find_flips(flipped)
    np.testing.assert_array_equal(found, bad)
    np.testing.assert_allclose(sides.unflip(flipped, found), w)


def test_undetected_and_edge_on_frames_never_count():
    T = 60
    w = _body(np.full(T, 20.0))
    bad = np.zeros(T, bool)
    bad[10:20] = True
    flipped = w.copy()
    flipped[bad] = flipped[bad][:, list(MIRROR)]
    detected = np.ones(T, bool)
    detected[5:25] = False                          # the flip lies inside a gap: nothing to compare
    assert not sides.find_flips(flipped, detected).any()
    edge = _body(np.full(T, 20.0))
    edge[:, :, [0, 2]] *= 0.05                      # hips and shoulders seen edge-on: no facing
    edge[bad] = edge[bad][:, list(MIRROR)]
    assert not sides.find_flips(edge).any()


def test_unflip_detections_swaps_every_per_side_field():
    T = 40
    w = _body(np.full(T, -30.0))
    bad = np.zeros(T, bool)
    bad[12:20] = True
    w[bad] = w[bad][:, list(MIRROR)]
    kp = np.concatenate([w[..., :2] * 500 + 500, np.full((T, NUM_JOINTS, 1), 0.9, np.float32)], -1)
    hands = np.zeros((T, 2, 21, 3), np.float32)
    hands[:, 0, :, 2], hands[:, 1, :, 2] = 0.1, 0.2  # [left, right] told apart by their score
    dets = Detections(keypoints2d=kp.astype(np.float32), world3d=w, detected=np.ones(T, bool), fps=30.0,
                      width=1000, height=1000, frame_indices=np.arange(T))
    dets = dataclasses.replace(dets, hands2d=hands, hands3d=hands.copy())
    fixed, n = sides.unflip_detections(dets)
    assert n == 8
    assert np.all(fixed.hands2d[bad, 0, :, 2] == 0.2) and np.all(fixed.hands2d[~bad, 0, :, 2] == 0.1)
    np.testing.assert_array_equal(fixed.keypoints2d[bad], kp[bad][:, list(MIRROR)])
    assert not sides.find_flips(fixed.world3d).any()
    same, none = sides.unflip_detections(fixed)
    assert none == 0 and same is fixed
