"""The 68-point scheme, crop geometry, image reading and the shipped sample pictures: numpy, OpenCV and Pillow only."""
