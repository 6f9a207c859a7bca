// Package menucli is the command line restaurant-menu: today's lunch menu of
// one restaurant near SciLifeLab and where to eat it, or the list of
// restaurants grouped by region, from the lunch-menu API or the relay in
// front of it.
package menucli
