"""Synthetic captcha generator, training, export and evaluation."""
