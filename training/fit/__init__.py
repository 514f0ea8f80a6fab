"""Training: the TensorFlow loop on this CPU (``train``), the JAX loop on an accelerator
(``accel_train``), the batches both learn from (``data``), the weights passed between them
(``weights``), exporting a run (``export_run``), the fine-tune from verified samples
(``finetune``) and the training curves (``curves``)."""
