"""Change data capture: read the MySQL binlog and turn row events into change events."""
