"""Measurement through the server's data plane: accuracy and calibration on labelled sets
(``accuracy``; ``python -m training.evaluate``), the real pictures (``read_real``) and the
Chinese characters most often misread (``chinese_errors``)."""
