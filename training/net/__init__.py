"""The network: its architecture (``architecture``, framework-free), the TensorFlow form
(``model``), the JAX form for accelerators (``accel_model``) and the label encoding (``encoding``)."""
