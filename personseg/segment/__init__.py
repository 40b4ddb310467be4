"""``personseg segment``: masks, cutouts or composites for files, folders, s3:// prefixes and videos."""
