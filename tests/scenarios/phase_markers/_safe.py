"""django-safemigrate 5's Safe, in shape (for 0004 and 0005)."""

import enum
from dataclasses import dataclass


class When(enum.Enum):
    ALWAYS = "always"
    BEFORE_DEPLOY = "before_deploy"
    AFTER_DEPLOY = "after_deploy"


@dataclass
class Safe:
    when: When

    @classmethod
    def always(cls):
        return cls(When.ALWAYS)

    @classmethod
    def after_deploy(cls):
        return cls(When.AFTER_DEPLOY)
