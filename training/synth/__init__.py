"""The synthetic captcha generator: what the platform draws (``style``, ``render``, ``fonts``,
the character list in ``charset``), labelled sets (``generate``), the frozen evaluation sets
(``eval_sets``), the font pack for machines without fonts (``fontpack``) and how close the
generator comes to the real pictures (``fidelity``)."""
