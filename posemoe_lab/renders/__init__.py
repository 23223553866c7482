"""Rendered clips with ground truth (Blender, the project's own figures): the sample clip
(:mod:`.sample`), the benchmark set (:mod:`.eval_set`), the cross-source set (:mod:`.cross_set`),
the hands set (:mod:`.hand_set`) and a training-motion set (:mod:`.train_set`). Run each as
``python -m posemoe_lab.renders.<name>``."""
