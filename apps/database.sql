-- The database workloads' tables (issue 25), as TechEmpower's Framework Benchmarks define
-- them: World, 10,000 rows with a random number 1-10,000 each, and Fortune, the standard
-- 12 rows (one of them a <script> tag, to prove the apps escape what they render).
-- Safe to run again: it makes what is missing and leaves what is there; a reseed between
-- repetitions is "TRUNCATE world" and this file.
-- Unquoted names: PostgreSQL folds them to world, randomnumber, fortune.
CREATE TABLE IF NOT EXISTS World (
  id integer PRIMARY KEY,
  randomNumber integer NOT NULL DEFAULT 0
);
INSERT INTO World (id, randomNumber)
SELECT x, 1 + floor(random() * 10000)::integer
FROM generate_series(1, 10000) AS x
ON CONFLICT (id) DO NOTHING;

CREATE TABLE IF NOT EXISTS Fortune (
  id integer PRIMARY KEY,
  message varchar(2048) NOT NULL
);
INSERT INTO Fortune (id, message) VALUES
  (1, 'fortune: No such file or directory'),
  (2, 'A computer scientist is someone who fixes things that aren''t broken.'),
  (3, 'After enough decimal places, nobody gives a damn.'),
  (4, 'A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1'),
  (5, 'A computer program does what you tell it to do, not what you want it to do.'),
  (6, 'Emacs is a nice operating system, but I prefer UNIX. — Tom Christaensen'),
  (7, 'Any program that runs right is obsolete.'),
  (8, 'A list is only as strong as its weakest link. — Donald Knuth'),
  (9, 'Feature: A bug with seniority.'),
  (10, 'Computers make very fast, very accurate mistakes.'),
  (11, '<script>alert("This should not be displayed in a browser alert box.");</script>'),
  (12, 'フレームワークのベンチマーク')
ON CONFLICT (id) DO NOTHING;
ANALYZE World;
ANALYZE Fortune;
