"""One-off analyses and tools: fits (landmark correction, MediaPipe's noise model), sweeps,
knock-outs and router analyses of the networks, clip and pair makers, the architecture picture.
Run each as ``python -m posemoe_lab.experiments.<name>``; results go to ``benchmarks/``."""
