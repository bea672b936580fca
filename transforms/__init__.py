"""Public Beam composites of pagestream; build your own graph from them.

Each composite documents its input and output record types (``schemas.records``).
"""
