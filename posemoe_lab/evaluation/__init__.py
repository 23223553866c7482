"""Evaluation: how good the pipeline's motion is, against rendered truth and across real views.

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
* :mod:`.command`: ``evaluate-render`` / ``python -m posemoe_lab.evaluation``.
"""
