"""Stand-in for the parts of Wegent's executor_manager the kit touches, written from their interface (not copied)."""
