"""Ready-made wiring of policies into client libraries.

Each module imports its library and is imported only by you; ``import resilience`` imports none
of them. Install the extra that brings the library:

=====================================================  ==================  =======================
module                                                 extra               library
=====================================================  ==================  =======================
:mod:`resilience.integrations.greengrass`              ``aws``             AWSIoTPythonSDK
:mod:`resilience.integrations.aiomqtt`                 ``mqtt``            aiomqtt, paho-mqtt
:mod:`resilience.integrations.boto3`                   ``aws``             boto3, botocore
:mod:`resilience.integrations.engineio`                ``engineio``        python-engineio
=====================================================  ==================  =======================

Every helper takes an optional :class:`~resilience.Policy` and has a documented default; pass
your own, or one from a YAML file (``load_policies(...)["iot-publish"]``), to change it.
"""

from __future__ import annotations

__all__: list[str] = []
