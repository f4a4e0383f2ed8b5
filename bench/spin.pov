// bench/spin.pov - the throughput benchmark's animation: three boxes turn
// over a plane. Small frames on purpose: where a renderer's start-up counts.
camera { location <0, 3, -7> look_at <0, 0.5, 0> }
light_source { <8, 15, -10> color rgb 1 }
plane { y, 0 pigment { color rgb <0.8, 0.8, 0.7> } }
#declare R = clock * 360;
box { <-0.5, 0, -0.5>, <0.5, 1, 0.5> rotate y * R translate <-2, 0, 0> pigment { color rgb <0.9, 0.2, 0.2> } }
box { <-0.5, 0, -0.5>, <0.5, 1, 0.5> rotate y * (2 * R) pigment { color rgb <0.2, 0.8, 0.3> } }
box { <-0.5, 0, -0.5>, <0.5, 1, 0.5> rotate y * (3 * R) translate <2, 0, 0> pigment { color rgb <0.2, 0.3, 0.9> } }
