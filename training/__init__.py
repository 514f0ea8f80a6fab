"""Everything that makes and measures the models, in five packages whose imports point one way:

- ``synth``: the synthetic captcha generator (styles, faces, the character list), labelled sets
  and the frozen evaluation sets;
- ``net``: the network, in TensorFlow (``model``) and JAX (``accel_model``) forms, and the label
  encoding;
- ``fit``: training (on CPU with TensorFlow, on an accelerator with JAX), the batch feeder, the
  fine-tune from the platform's verdicts;
- ``artifacts``: what goes into and out of the model repository: export, restore, re-export,
  calibration, the feedback store's samples;
- ``evaluate``: accuracy through the server's data plane, the real pictures, Chinese errors.

``synth`` and ``net`` import neither each other nor the others; ``evaluate`` imports ``synth``;
``artifacts`` imports ``net``, ``synth`` and ``evaluate``; ``fit`` imports all four, and nothing
imports ``fit`` (``tests/test_layout.py`` holds the rule).
"""
