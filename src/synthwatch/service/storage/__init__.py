"""Storage: the schema (``schema``), narrow interfaces per area (``interfaces``), their SQL
implementations (``sql``) and the content-addressed media files (``blobs``)."""
