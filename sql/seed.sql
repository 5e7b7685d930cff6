-- Demo rows: 5 robots, 10 tasks, every status present. Times are offsets from
-- the server clock, wrapped into 00:00:00-23:59:59, so that a fresh demo shows
-- status changes within its first minute:
--   task 2 is scheduled before it was issued: rejected on the first tick,
--   task 4 has been running for 20 s: completed after 10 s (default run time 30 s),
--   task 1 is due in 10 s: it starts and preempts task 3 of the same robot,
--   task 6 is due in 25 s and task 9 in 45 s: both start,
--   the finished tasks 5, 7, 8 and 10 are 110 to 140 s past their Scheduled_Time,
--   so demo mode deletes them about a minute after start.
DELETE FROM robots.task WHERE Task_ID BETWEEN 1 AND 10;

INSERT INTO robots.task (Task_ID, Robot_ID, Task_Name, Issued_Time, Scheduled_Time, Status) VALUES
    (1, 1, 'Pick crate A7', SEC_TO_TIME(MOD(TIME_TO_SEC(CURTIME()) - 60 + 86400, 86400)), SEC_TO_TIME(MOD(TIME_TO_SEC(CURTIME()) + 10, 86400)), 'SCHEDULED'),
    (2, 2, 'Charge battery', SEC_TO_TIME(MOD(TIME_TO_SEC(CURTIME()) - 30 + 86400, 86400)), SEC_TO_TIME(MOD(TIME_TO_SEC(CURTIME()) - 90 + 86400, 86400)), 'SCHEDULED'),
    (3, 1, 'Scan aisle 4', SEC_TO_TIME(MOD(TIME_TO_SEC(CURTIME()) - 120 + 86400, 86400)), SEC_TO_TIME(MOD(TIME_TO_SEC(CURTIME()) - 5 + 86400, 86400)), 'ACTIVE'),
    (4, 3, 'Deliver parts to L2', SEC_TO_TIME(MOD(TIME_TO_SEC(CURTIME()) - 300 + 86400, 86400)), SEC_TO_TIME(MOD(TIME_TO_SEC(CURTIME()) - 20 + 86400, 86400)), 'ACTIVE'),
    (5, 4, 'Inspect conveyor', SEC_TO_TIME(MOD(TIME_TO_SEC(CURTIME()) - 170 + 86400, 86400)), SEC_TO_TIME(MOD(TIME_TO_SEC(CURTIME()) - 140 + 86400, 86400)), 'COMPLETED'),
    (6, 3, 'Restock shelf B2', SEC_TO_TIME(MOD(TIME_TO_SEC(CURTIME()) - 45 + 86400, 86400)), SEC_TO_TIME(MOD(TIME_TO_SEC(CURTIME()) + 25, 86400)), 'SCHEDULED'),
    (7, 5, 'Map loading dock', SEC_TO_TIME(MOD(TIME_TO_SEC(CURTIME()) - 160 + 86400, 86400)), SEC_TO_TIME(MOD(TIME_TO_SEC(CURTIME()) - 120 + 86400, 86400)), 'PREEMPTED'),
    (8, 2, 'Sort returns', SEC_TO_TIME(MOD(TIME_TO_SEC(CURTIME()) - 100 + 86400, 86400)), SEC_TO_TIME(MOD(TIME_TO_SEC(CURTIME()) - 130 + 86400, 86400)), 'REJECTED'),
    (9, 4, 'Calibrate arm', SEC_TO_TIME(MOD(TIME_TO_SEC(CURTIME()) - 20 + 86400, 86400)), SEC_TO_TIME(MOD(TIME_TO_SEC(CURTIME()) + 45, 86400)), 'SCHEDULED'),
    (10, 5, 'Wrap pallet 12', SEC_TO_TIME(MOD(TIME_TO_SEC(CURTIME()) - 150 + 86400, 86400)), SEC_TO_TIME(MOD(TIME_TO_SEC(CURTIME()) - 110 + 86400, 86400)), 'COMPLETED');
