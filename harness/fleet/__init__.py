"""Running a matrix on a Ray cluster: nodes advertise their hardware profile as Ray
resources, the suite file says where cells run, and the driver keeps the store."""
