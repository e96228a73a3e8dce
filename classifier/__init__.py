"""bup-classifier: classify BUP care contacts for the national wait-time follow-up."""

from classifier.classify import Classifier, default_classifier
from classifier.errors import InputError

__all__ = ["Classifier", "InputError", "default_classifier"]
