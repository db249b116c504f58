"""instanceha: instance high availability for OpenStack on Pacemaker.

Everything that is logic or protocol lives in this package; the executables in
``agents/`` and ``fence/`` are thin shims into it.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
