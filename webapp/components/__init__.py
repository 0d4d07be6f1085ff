"""Small render helpers shared by pages."""
