"""Vigil as a python-threatexchange extension.

Lets the unmodified ``threatexchange`` CLI (and anything else built on python-threatexchange, such as
Hasher-Matcher-Actioner) fetch signals from a Vigil exchange, match content against them, and report
opinions back::

    pip install 'vigil[tx]'
    threatexchange config extensions add vigil_threatexchange
    export VIGIL_API_KEY=...                     # or put the key in ~/.vigil_api_key
    threatexchange config collab edit vigil_exchange coalition --create --server https://vigil.example
    threatexchange fetch
    threatexchange match text -- "the text of a post"

This is a separate top-level package so that Vigil itself never imports threatexchange: it is
installed with the ``tx`` extra, and python-threatexchange finds it by its ``TX_MANIFEST``.
"""

from threatexchange.extensions.manifest import ThreatExchangeExtensionManifest

from vigil_threatexchange.api import VigilCollabConfig, VigilCredentials, VigilSignalExchangeAPI
from vigil_threatexchange.signal_types import VigilDomainSignal, VigilTextExactSignal, VigilUrlSignal

TX_MANIFEST = ThreatExchangeExtensionManifest(
    signal_types=(VigilTextExactSignal, VigilDomainSignal, VigilUrlSignal),
    apis=(VigilSignalExchangeAPI,),
)

__all__ = [
    "TX_MANIFEST",
    "VigilCollabConfig",
    "VigilCredentials",
    "VigilDomainSignal",
    "VigilSignalExchangeAPI",
    "VigilTextExactSignal",
    "VigilUrlSignal",
]
