-- mysqldump --no-data style: the schema before the change.
CREATE TABLE `users` (
  `id` bigint(20) NOT NULL AUTO_INCREMENT,
  `email` varchar(200) NOT NULL,
  `name` varchar(100) NOT NULL DEFAULT 'anon',
  `score` int(11) NOT NULL DEFAULT 0,
  PRIMARY KEY (`id`),
  KEY `users_score_idx` (`score`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
