// examples/orbit/scene.pov - a small POV-Ray animation: a red ball orbits
// a checkered floor while the camera turns. clock runs 0 -> 1 over the shot.
#include "colors.inc"
camera { location <6 * sin(clock * 2 * pi), 3, -6 * cos(clock * 2 * pi)> look_at <0, 0.6, 0> }
light_source { <10, 20, -10> color rgb 1 }
light_source { <-10, 10, -5> color rgb 0.4 }
plane { y, 0 pigment { checker color rgb 0.9 color rgb 0.2 scale 0.8 } finish { reflection 0.1 } }
sphere { <2 * sin(clock * 4 * pi), 0.7 + 0.5 * abs(sin(clock * 8 * pi)), 2 * cos(clock * 4 * pi)>, 0.7
         pigment { color rgb <1, 0.25, 0.2> } finish { specular 0.6 } }
cylinder { <0, 0, 0>, <0, 1.2, 0>, 0.25 pigment { color rgb <0.2, 0.4, 1> } }
