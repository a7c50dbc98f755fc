"""Group hugs: many people, one scheduled moment started on every phone at once, squeezes felt
together as bounded-rate pulses."""
