"""Embedded models, their licences and the demo clip: data files, found at run time through
``importlib.resources.files("detector.assets")`` (installed as that package; see README.md here)."""
