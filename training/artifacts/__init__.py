"""The model repository's artefacts: version folders written (``export``), read back for training
(``restore``), re-exported (``reexport``), calibrated (``calibrate``), and the feedback store's
samples exported and imported (``feedback``)."""
