-- Least-privilege accounts for the demo. The passwords are demo values for a
-- server bound to 127.0.0.1: change them before using these accounts elsewhere.
--
-- rowcast_reader streams the binlog and takes snapshots. It needs
--   REPLICATION SLAVE   to request the binlog stream (COM_BINLOG_DUMP),
--   REPLICATION CLIENT  to read binlog coordinates (SHOW MASTER STATUS); MariaDB
--                       10.5+ names this privilege BINLOG MONITOR and keeps
--                       REPLICATION CLIENT as an alias,
--   SELECT on robots    to take consistent snapshots of the watched tables.
CREATE USER IF NOT EXISTS 'rowcast_reader'@'%' IDENTIFIED BY 'reader-demo-pw';
GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'rowcast_reader'@'%';
GRANT SELECT ON robots.* TO 'rowcast_reader'@'%';

-- rowcast_scheduler moves task statuses, issues demo tasks and deletes old ones.
CREATE USER IF NOT EXISTS 'rowcast_scheduler'@'%' IDENTIFIED BY 'scheduler-demo-pw';
GRANT SELECT, INSERT, UPDATE, DELETE ON robots.task TO 'rowcast_scheduler'@'%';
