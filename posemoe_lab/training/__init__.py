"""Training data and training: mocap readers (:mod:`.bvh`, :mod:`.asf`, :mod:`.sources`),
``prepare`` (:mod:`.prepare`, :mod:`.datapack`), the windows and augmentations (:mod:`.dataset`),
MediaPipe's noise model (:mod:`.mpnoise`) and ``train`` (:mod:`.train`). Shell recipes that
chain them live in ``posemoe_lab/recipes/``."""
