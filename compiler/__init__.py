"""catsplit edit compiler: split a coarse category of a bundle's head into subcategories."""
