-- Demo schema: robot tasks. Task_ID is the primary key; Robot_ID is indexed
-- but not unique because one robot owns several tasks.
CREATE DATABASE IF NOT EXISTS robots CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS robots.task (
    Task_ID        INT          NOT NULL AUTO_INCREMENT PRIMARY KEY,
    Robot_ID       INT          NOT NULL,
    Task_Name      VARCHAR(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci,
    Issued_Time    TIME,
    Scheduled_Time TIME,
    Status         VARCHAR(16)  NOT NULL DEFAULT 'SCHEDULED',
    KEY task_robot (Robot_ID),
    CONSTRAINT task_status_valid
        CHECK (Status IN ('SCHEDULED', 'ACTIVE', 'COMPLETED', 'PREEMPTED', 'REJECTED'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
