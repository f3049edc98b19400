"""CCTV analytics: named zones and directed lines, each person's visits, dwell and crossings, and
their per-run totals. A layer between tracking and the sinks; it never imports sinks, jobs or cli."""
