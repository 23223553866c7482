"""Evaluation, all of it: how good and how fast the pipeline is, against rendered truth, across
real views and on the held-out mocap split.

Modules, one job each:

* :mod:`.detections`: BlazePose once per video, cached on disk (and the context managers that
  let every pipeline variant reuse it);
* :mod:`.sets`: what a rendered set folder holds and how to read it;
* :mod:`.alignment`: the alignments a metric may allow (clip rotation, similarity per clip or
  per frame);
* :mod:`.metrics`: the metrics, one name one meaning (PA-MPJPE per frame and per sequence,
  MPJPE, acceleration error, joint groups, foot sliding, foot locks);
* :mod:`.variants`: the rows evaluated, built from the project's lifter list;
* :mod:`.runner`: every variant on every video of a set;
* :mod:`.report`: means, ratios to MediaPipe's world landmarks, targets, markdown/JSON;
* :mod:`.plots`: the joint-track and foot-height plots of one video;
* :mod:`.keyed`: the keyed Blender rig's joints (the scored joints are what is keyed);
* :mod:`.multiview`: truth-free agreement of synchronised real views;
* :mod:`.command`: ``evaluate-render`` / ``python -m posemoe_lab.evaluation``;
* :mod:`.pose_metrics`, :mod:`.mocap`: the networks on the held-out mocap windows
  (``python -m posemoe_lab evaluate``);
* :mod:`.bench`, :mod:`.bench_keyframes`, :mod:`.gpu_throughput`: speed (``python -m posemoe_lab bench``);
* :mod:`.hands_eval`, :mod:`.hands_render_eval`, :mod:`.hands_palm_eval`, :mod:`.hands_finger_sources`:
  the hands on real footage and on the renders with articulated fingers;
* :mod:`.lift_eval`, :mod:`.axis_errors`, :mod:`.foot_pitch_eval`, :mod:`.sample_accuracy`:
  single questions about the lifting, the limbs' directions, the feet and the sample clip;
* :mod:`.same_joints`: a refactoring's check (the joint files before and after, bit for bit).
"""
