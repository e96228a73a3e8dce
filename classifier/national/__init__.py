"""The national follow-up (docs/national.md): every region's month deliveries in one store, completeness,
notices and supplements, and the assessment and money as of a cut-off date."""
