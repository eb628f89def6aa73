"""Roster files kept by grid workers in Excel: template, reading, validation, export."""
