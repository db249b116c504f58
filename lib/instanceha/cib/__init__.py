"""The CIB instance HA needs: inventory, templates, rendering, checks and simulation.

* :mod:`.inventory` reads and validates the admin's YAML inventory;
* :mod:`.render` turns it into CIB XML through ``cib_templates/``;
* :mod:`.schema` and :mod:`.verify` check a CIB against Pacemaker's RNG and ``crm_verify``;
* :mod:`.pcs` translates a rendered CIB into the equivalent ``pcs -f`` script;
* :mod:`.simulate` injects a host failure into ``crm_simulate`` and reads the transition.
"""

__all__: list[str] = []
