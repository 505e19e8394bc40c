"""The classroom labs' numerics: gradient descent on a function of two variables
(`gradient_descent`), sharpness and loss landscapes (`sharpness`, on saved runs in `measures`),
and SAM pairs (`sam_pairs`). Their charts are in `cifar_tf.views.labs`."""
