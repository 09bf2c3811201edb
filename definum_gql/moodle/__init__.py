"""The Moodle database: table objects, read-only engines and the site's configuration."""
