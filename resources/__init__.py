"""Resources: one ConfigurableResource per external system Distillery talks to."""
