PY ?= .venv/bin/python

.PHONY: venv deps serve test bench runtimes feedback-sim soak fuzz proto fidelity eval-sets evaluate calibrate accel-prep
# what the targets below need on a fresh machine (skipped when done): .venv with the dev extras, and fonts
venv:         ; scripts/venv.sh dev
deps: venv ;   scripts/install-fonts.sh
serve:        ; scripts/serve
test:         ; scripts/test
proto: venv ;   $(PY) scripts/gen_proto.py
fidelity: deps ; $(PY) -m training.synth.fidelity --out docs
eval-sets: deps ; $(PY) -m training.synth.eval_sets --out data/eval
evaluate: eval-sets ; $(PY) -m training.evaluate --models saved_models --data data/eval/90x35 data/eval/120x50 data/eval/wider-90x35 data/eval/faces-out-90x35 --out docs
calibrate: deps ; $(PY) -m training.artifacts.calibrate --models saved_models
bench: deps ;   $(PY) bench/run.py
soak: deps ;    $(PY) bench/reliability.py --soak 20000 --soak-chunks 2
fuzz: deps ;    $(PY) bench/fuzz.py --cases 10000
runtimes: eval-sets ; $(PY) bench/runtimes.py
feedback-sim: eval-sets ; $(PY) bench/feedback_sim.py
# what a GPU machine without TensorFlow or fonts needs: the font pack and the committed models' weights
accel-prep: deps ; $(PY) -m training.synth.fontpack --out build/fontpack && $(PY) -m training.fit.weights dump --models saved_models --out build/accel/init.npz
