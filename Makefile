# posemoe-blender: `make demo` (set up + convert the sample clip), `make test` (set up + tests).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test sample render-set render-calib render-cross evaluate-cross clean

setup: $(STAMP)

$(STAMP): requirements.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "bpy 5.0.1 needs Python 3.11 (set PYTHON=...)"'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $(STAMP)

demo: $(STAMP)
	@mkdir -p out
	$(PY) -m posemoe_blender convert samples/demo.mp4 -o out/demo.fbx --blend out/demo.blend \
		--save-joints out/demo_joints.npz --overwrite
	@echo "Wrote $(CURDIR)/out/demo.fbx and $(CURDIR)/out/demo.blend"

test: $(STAMP)
	$(PY) -m pytest -q tests

# Re-render the project's own sample clip (Blender Workbench, ~2 minutes on 2 cores).
sample: $(STAMP)
	$(PY) -m posemoe_lab.renders.sample --out samples

# Render the motion-quality benchmark set (held-out mocap clips on the figure, 3 cameras) into
# .cache/render_set (~10 minutes on 2 cores); evaluate with `python -m posemoe_lab evaluate-render`.
render-set: $(STAMP)
	$(PY) -m posemoe_lab.renders.eval_set --out .cache/render_set
	$(PY) -m posemoe_lab.evaluation.detections .cache/render_set

# Its calibration twin (training-split motion) that fits core/landmarks.CORRECTION:
# then `$(PY) -m posemoe_lab.experiments.fit_landmark_correction .cache/render_calib --eval .cache/render_set`.
render-calib: $(STAMP)
	$(PY) -m posemoe_lab.renders.eval_set --calibration --out .cache/render_calib
	$(PY) -m posemoe_lab.evaluation.detections .cache/render_calib

# The cross-source benchmark (HDM05 held-out actors mm/tr on the second figure, 3 cameras)
# into .cache/render_cross (~25 minutes on 2 idle cores) and its BlazePose detections (cached
# beside each video): the set every default is decided on.
render-cross: $(STAMP)
	$(PY) -m posemoe_lab.renders.cross_set --out .cache/render_cross
	$(PY) -m posemoe_lab.evaluation.detections .cache/render_cross

# Every lifter with and without the landmark correction, MediaPipe raw and through the pipeline,
# on the cross-source set (per actor) and on the four synchronised real views (docs/benchmarks.md).
CROSS_VARIANTS := mediapipe_raw;tcn_nocorr;tcn_corr;tcn_noflip=tcn,nocorr,noflip;posemoe_nocorr;posemoe_corr;entangled_nocorr;entangled_corr;mediapipe;tcn2d_nocorr;mean:entangled_nocorr+mediapipe
evaluate-cross: $(STAMP)
	$(PY) -m posemoe_lab.evaluation .cache/render_cross --out benchmarks/cross_source/report.md --variants '$(CROSS_VARIANTS)'
	$(PY) -m posemoe_lab.evaluation.multiview --variants '$(CROSS_VARIANTS)' --markdown

clean:
	rm -rf out dist

# Installable Blender extension: dist/posemoe_blender-<version>-<platform>.zip with its wheels (locked in
# posemoe_lab/extension_wheels.json, downloaded into .cache/extension-wheels), and the plain
# dist/posemoe_blender-<version>.zip (Install from Disk in Blender).
.PHONY: extension
extension:
	$(if $(wildcard $(PY)),$(PY),$(PYTHON)) -m posemoe_lab.extension
